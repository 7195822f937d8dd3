// Debian's serial HDF5 (libhdf5-dev). HDF5's constants are macros that Swift cannot import;
// each is wrapped in a static inline function here. Versioned API names (H5Dopen, H5Gcreate,
// H5Oget_info) are macros too: call the numbered names (H5Dopen2, …) from Swift.
#ifndef BS_CHDF5_SHIM_H
#define BS_CHDF5_SHIM_H
#include <hdf5/serial/hdf5.h>
#include <hdf5/serial/hdf5_hl.h>

static inline hid_t bs_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t bs_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t bs_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t bs_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t bs_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t bs_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t bs_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t bs_h5t_variable(void) { return H5T_VARIABLE; }
static inline hid_t bs_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t bs_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t bs_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t bs_h5s_all(void) { return H5S_ALL; }
static inline unsigned bs_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned bs_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned bs_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
/// The linked library's version, e.g. for `bench` and report environment sections.
static inline void bs_h5_version(unsigned *maj, unsigned *min, unsigned *rel) { H5get_libversion(maj, min, rel); }
#endif
