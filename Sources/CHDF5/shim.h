// Debian's serial HDF5 (libhdf5-dev). HDF5's constants are macros that Swift cannot import;
// each is wrapped in a static inline function here. Versioned API names (H5Dopen, H5Gcreate,
// H5Oget_info) are macros too: call the numbered names (H5Dopen2, …) from Swift.
// String attributes come in two encodings (variable-length, written by h5py/Keras 3, and
// fixed-length NULLPAD arrays, written by older tf.keras): the readers below handle both.
#ifndef BS_CHDF5_SHIM_H
#define BS_CHDF5_SHIM_H
#include <hdf5/serial/hdf5.h>
#include <hdf5/serial/hdf5_hl.h>
#include <stdlib.h>
#include <string.h>

static inline hid_t bs_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t bs_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t bs_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t bs_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t bs_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t bs_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t bs_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t bs_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t bs_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t bs_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t bs_h5t_std_i64le(void) { return H5T_STD_I64LE; }
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
/// Silences HDF5's own error stack printing: errors are reported as one line by blindspot.
static inline void bs_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static inline void bs_h5_reclaim(hid_t type, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

/// Reads a string or string-array attribute (variable- or fixed-length) as one buffer of
/// NUL-separated strings. Returns the number of strings, or -1 on error / not a string.
/// `*out` is malloc'd (free with bs_h5_free); at most `max_total` bytes are accepted.
static inline long bs_h5_read_string_attr(hid_t obj, const char *name, char **out, size_t *out_len, size_t max_total) {
    *out = NULL; *out_len = 0;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return -1;
    hid_t ftype = H5Aget_type(attr);
    hid_t space = H5Aget_space(attr);
    long result = -1;
    if (ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING) goto done;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 0 || n > 1000000) goto done;
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char **ptrs = (char **)calloc((size_t)(n ? n : 1), sizeof(char *));
        if (ptrs && H5Aread(attr, mtype, ptrs) >= 0) {
            size_t total = 0;
            for (hssize_t i = 0; i < n; i++) total += (ptrs[i] ? strlen(ptrs[i]) : 0) + 1;
            if (total <= max_total) {
                char *buf = (char *)malloc(total ? total : 1);
                size_t pos = 0;
                for (hssize_t i = 0; i < n; i++) {
                    size_t l = ptrs[i] ? strlen(ptrs[i]) : 0;
                    if (l) memcpy(buf + pos, ptrs[i], l);
                    buf[pos + l] = 0;
                    pos += l + 1;
                }
                *out = buf; *out_len = total; result = (long)n;
            }
            bs_h5_reclaim(mtype, space, ptrs);
        }
        free(ptrs);
        H5Tclose(mtype);
    } else {
        size_t sz = H5Tget_size(ftype);
        if (sz == 0 || sz > max_total || (size_t)n * sz > max_total) goto done;
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, sz);
        H5Tset_strpad(mtype, H5T_STR_NULLPAD);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *raw = (char *)calloc((size_t)n * sz + 1, 1);
        if (raw && H5Aread(attr, mtype, raw) >= 0) {
            char *buf = (char *)malloc((size_t)n * (sz + 1) + 1);
            size_t pos = 0;
            for (hssize_t i = 0; i < n; i++) {
                const char *s = raw + (size_t)i * sz;
                size_t l = strnlen(s, sz);
                memcpy(buf + pos, s, l);
                buf[pos + l] = 0;
                pos += l + 1;
            }
            *out = buf; *out_len = pos; result = (long)n;
        }
        free(raw);
        H5Tclose(mtype);
    }
done:
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return result;
}

static inline void bs_h5_free(void *p) { free(p); }

/// Writes a variable-length UTF-8 string attribute (scalar).
static inline herr_t bs_h5_write_string_attr(hid_t obj, const char *name, const char *value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = attr < 0 ? -1 : H5Awrite(attr, type, &value);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return r;
}

/// Writes an array of variable-length UTF-8 strings as an attribute.
static inline herr_t bs_h5_write_string_array_attr(hid_t obj, const char *name, const char **values, size_t count) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dims[1] = {count};
    hid_t space = H5Screate_simple(1, dims, NULL);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = attr < 0 ? -1 : H5Awrite(attr, type, values);
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return r;
}

/// Names of the links in a group, in name order, NUL-separated (malloc'd). Returns the count or -1.
static inline herr_t bs_h5_collect_name(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g; (void)info;
    char **bufp = (char **)((void **)op)[0];
    size_t *len = (size_t *)((void **)op)[1];
    size_t *cap = (size_t *)((void **)op)[2];
    size_t l = strlen(name) + 1;
    if (*len + l > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < *len + l) nc *= 2;
        if (nc > ((size_t)64 << 20)) return -1;
        char *nb = (char *)realloc(*bufp, nc);
        if (!nb) return -1;
        *bufp = nb; *cap = nc;
    }
    memcpy(*bufp + *len, name, l);
    *len += l;
    return 0;
}

static inline long bs_h5_list_group(hid_t group, char **out, size_t *out_len) {
    char *buf = NULL; size_t len = 0, cap = 0;
    void *op[3] = {&buf, &len, &cap};
    hsize_t idx = 0;
    herr_t r = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, bs_h5_collect_name, op);
    if (r < 0) { free(buf); *out = NULL; *out_len = 0; return -1; }
    *out = buf; *out_len = len;
    long count = 0;
    for (size_t i = 0; i < len; i++) if (buf[i] == 0) count++;
    return count;
}

/// 1 if `path` names an object (group or dataset) under `loc`, following each link level safely.
static inline int bs_h5_exists(hid_t loc, const char *path) {
    return H5LTpath_valid(loc, path, 1) > 0;
}
#endif
