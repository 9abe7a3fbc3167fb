// libFuzzer target for Loupe's image shims (lk_image.c) built with clang's
// -fsanitize=fuzzer,address,undefined, which the Swift fuzz package cannot give its C code.
// Each input is read as a PNG and as a JPEG: the header first, then, within a pixel budget, the
// whole image. A PNG or JPEG that decodes is then written as PNG and read back, and must come
// back identical (and with the same size).
#include "LoupeKernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// What Loupe's default budget allows is far larger; the fuzzer's images stay small so that each
// run is fast, and the header check is what stops a huge claimed size either way.
#define FUZZ_MAX_PIXELS (1 << 20)

static void round_trip(const uint8_t *rgb, int64_t width, int64_t height) {
    const size_t size = lk_png_encode_rgb8(rgb, (int)width, (int)height, NULL, 0);
    if (size == 0) abort();
    uint8_t *png = malloc(size);
    if (lk_png_encode_rgb8(rgb, (int)width, (int)height, png, size) != size) abort();
    lk_image_info info;
    memset(&info, 0, sizeof info);
    if (lk_png_read_header(png, size, &info) != LK_IMAGE_OK || info.width != width || info.height != height) abort();
    uint8_t *back = malloc((size_t)(width * height * 3));
    if (lk_png_decode_rgb8(png, size, back, &info) != LK_IMAGE_OK) abort();
    if (memcmp(back, rgb, (size_t)(width * height * 3)) != 0) abort();
    free(back);
    free(png);
}

static void try_format(const uint8_t *data, size_t size, int jpeg) {
    lk_image_info info;
    memset(&info, 0, sizeof info);
    const int header = jpeg ? lk_jpeg_read_header(data, size, &info) : lk_png_read_header(data, size, &info);
    if (header != LK_IMAGE_OK) return;
    if (info.width < 1 || info.height < 1) abort();  // a header that passes names a real size
    if (jpeg && (info.orientation < 1 || info.orientation > 8)) abort();
    if (info.width > FUZZ_MAX_PIXELS / info.height) return;
    uint8_t *rgb = malloc((size_t)(info.width * info.height * 3));
    const int64_t width = info.width, height = info.height;
    const int decoded = jpeg ? lk_jpeg_decode_rgb8(data, size, rgb, &info) : lk_png_decode_rgb8(data, size, rgb, &info);
    if (decoded == LK_IMAGE_OK) {
        if (info.width != width || info.height != height) abort();
        round_trip(rgb, width, height);
    } else if (info.message[sizeof info.message - 1] != 0 && strnlen(info.message, sizeof info.message) == sizeof info.message) {
        abort();  // the message must end inside its buffer
    }
    free(rgb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_format(data, size, 0);
    try_format(data, size, 1);
    return 0;
}
