// zlib (zlib1g-dev). inflateInit2/deflateInit2 are macros Swift cannot import: wrapped here.
// (Not named CZLib: ZIPFoundation declares a module of that name.)
#ifndef BS_CZ_SHIM_H
#define BS_CZ_SHIM_H
#include <zlib.h>
static inline int bs_inflate_init2(z_stream *s, int window_bits) { return inflateInit2(s, window_bits); }
static inline int bs_deflate_init2(z_stream *s, int level, int window_bits) {
    return deflateInit2(s, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
#endif
