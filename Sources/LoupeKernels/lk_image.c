// PNG and JPEG decoding and PNG encoding. libpng and libjpeg report errors by longjmp: every
// setjmp lives in this file, and every jump lands in the same C function that called setjmp, so
// no jump ever crosses a Swift frame. Decoding is two-phase: *_read_header reports the size (and
// the EXIF orientation) so that the caller can refuse oversized images before allocating, then
// *_decode_rgb8 writes interleaved RGB8 into the caller's H*W*3 buffer.
#include "LoupeKernels.h"
#include <setjmp.h>
#include <stdio.h>   // before jpeglib.h, which uses FILE
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

static void lk_set_message(lk_image_info *info, const char *text) {
    if (!info) return;
    snprintf(info->message, sizeof(info->message), "%s", text);
}

// MARK: PNG

typedef struct {
    const uint8_t *data;
    size_t size, offset;
    lk_image_info *info;
    jmp_buf jump;
    int truncated;
} lk_png_source;

static void lk_png_error(png_structp png, png_const_charp message) {
    lk_png_source *src = (lk_png_source *)png_get_error_ptr(png);
    lk_set_message(src->info, message);
    longjmp(src->jump, 1);
}

static void lk_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void lk_png_read(png_structp png, png_bytep out, size_t length) {
    lk_png_source *src = (lk_png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) {
        src->truncated = 1;
        png_error(png, "file ends early");
    }
    memcpy(out, src->data + src->offset, length);
    src->offset += length;
}

/// Sets up the transformations to 8-bit RGB; returns the passes to read.
static int lk_png_configure(png_structp png, png_infop info) {
    png_set_expand(png);           // palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha
    png_set_strip_16(png);         // 16 -> 8 bits by the high byte (as Pillow does)
    png_set_strip_alpha(png);      // alpha dropped, not composited (as Pillow's convert("RGB"))
    png_set_gray_to_rgb(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return passes;
}

static int lk_png_run(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info) {
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        lk_set_message(info, "not a PNG file");
        return LK_IMAGE_UNRECOGNIZED;
    }
    lk_png_source src = {data, size, 8, info, {{0}}, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, lk_png_error, lk_png_warning);
    if (!png) return LK_IMAGE_CORRUPT;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct(&png, NULL, NULL); return LK_IMAGE_CORRUPT; }
    volatile int status = LK_IMAGE_OK;
    if (setjmp(src.jump)) {
        status = src.truncated ? LK_IMAGE_TRUNCATED : LK_IMAGE_CORRUPT;
        png_destroy_read_struct(&png, &pinfo, NULL);
        return status;
    }
    png_set_read_fn(png, &src, lk_png_read);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // the caller enforces its pixel budget
    png_read_info(png, pinfo);
    info->width = (int64_t)png_get_image_width(png, pinfo);
    info->height = (int64_t)png_get_image_height(png, pinfo);
    info->orientation = 1;
    if (out) {
        const int passes = lk_png_configure(png, pinfo);
        if (png_get_rowbytes(png, pinfo) != (size_t)info->width * 3 || png_get_channels(png, pinfo) != 3) {
            lk_set_message(info, "unexpected row layout after conversion to RGB");
            png_destroy_read_struct(&png, &pinfo, NULL);
            return LK_IMAGE_UNSUPPORTED;
        }
        for (int pass = 0; pass < passes; pass++)
            for (int64_t y = 0; y < info->height; y++) png_read_row(png, out + (size_t)y * info->width * 3, NULL);
        png_read_end(png, NULL);
    }
    png_destroy_read_struct(&png, &pinfo, NULL);
    return status;
}

int lk_png_read_header(const uint8_t *data, size_t size, lk_image_info *info) {
    memset(info, 0, sizeof(*info));
    return lk_png_run(data, size, NULL, info);
}

int lk_png_decode_rgb8(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info) {
    memset(info, 0, sizeof(*info));
    return lk_png_run(data, size, out, info);
}

size_t lk_png_encode_rgb8(const uint8_t *rgb, int width, int height, uint8_t *out, size_t capacity) {
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = capacity;
    if (!png_image_write_to_memory(&image, out, &size, 0, rgb, 0, NULL)) {
        png_image_free(&image);
        return 0;
    }
    return (size_t)size;
}

// MARK: JPEG

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    lk_image_info *info;
    int truncated;
} lk_jpeg_error;

static void lk_jpeg_error_exit(j_common_ptr cinfo) {
    lk_jpeg_error *err = (lk_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    lk_set_message(err->info, text);
    longjmp(err->jump, 1);
}

static void lk_jpeg_emit(j_common_ptr cinfo, int level) {
    lk_jpeg_error *err = (lk_jpeg_error *)cinfo->err;
    // A premature end is only a warning to libjpeg (it pads with gray): Loupe refuses the image,
    // as Pillow does. Other warnings (extraneous bytes, ...) are tolerated like Pillow tolerates them.
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        err->truncated = 1;
        lk_set_message(err->info, "Premature end of JPEG file");
        longjmp(err->jump, 1);
    }
}

static inline uint32_t lk_read_u16(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}
static inline uint32_t lk_read_u32(const uint8_t *p, int little) {
    return little ? lk_read_u16(p, 1) | lk_read_u16(p + 2, 1) << 16 : lk_read_u16(p, 0) << 16 | lk_read_u16(p + 2, 0);
}

/// The EXIF Orientation tag (0x0112) of IFD0 in an APP1 payload, or 1. Bounds-checked throughout.
static int lk_exif_orientation(const uint8_t *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *tiff = p + 6;
    const size_t len = n - 6;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
    if (lk_read_u16(tiff + 2, little) != 42) return 1;
    const uint32_t ifd = lk_read_u32(tiff + 4, little);
    if (ifd > len || len - ifd < 2) return 1;
    const uint32_t count = lk_read_u16(tiff + ifd, little);
    for (uint32_t i = 0; i < count; i++) {
        const size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > len) return 1;
        if (lk_read_u16(tiff + at, little) == 0x0112) {
            const uint32_t type = lk_read_u16(tiff + at + 2, little);
            if (type != 3) return 1;  // SHORT
            const uint32_t v = lk_read_u16(tiff + at + 8, little);
            return (v >= 1 && v <= 8) ? (int)v : 1;
        }
    }
    return 1;
}

static int lk_jpeg_run(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info) {
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        lk_set_message(info, "not a JPEG file");
        return LK_IMAGE_UNRECOGNIZED;
    }
    struct jpeg_decompress_struct cinfo;
    lk_jpeg_error err;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = lk_jpeg_error_exit;
    err.base.emit_message = lk_jpeg_emit;
    err.info = info;
    err.truncated = 0;
    if (setjmp(err.jump)) {
        const int status = err.truncated ? LK_IMAGE_TRUNCATED : LK_IMAGE_CORRUPT;
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    info->width = cinfo.image_width;
    info->height = cinfo.image_height;
    info->orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            const int o = lk_exif_orientation(m->data, m->data_length);
            if (o != 1) { info->orientation = o; break; }
        }
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        lk_set_message(info, "CMYK JPEG images are not supported");
        jpeg_destroy_decompress(&cinfo);
        return LK_IMAGE_UNSUPPORTED;
    }
    if (out) {
        cinfo.out_color_space = JCS_RGB;
        cinfo.dct_method = JDCT_ISLOW;       // Pillow's default: results match it
        cinfo.do_fancy_upsampling = TRUE;
        jpeg_start_decompress(&cinfo);
        if (cinfo.output_components != 3 || cinfo.output_width != cinfo.image_width ||
            cinfo.output_height != cinfo.image_height) {
            lk_set_message(info, "unexpected output layout");
            jpeg_destroy_decompress(&cinfo);
            return LK_IMAGE_UNSUPPORTED;
        }
        const size_t stride = (size_t)cinfo.output_width * 3;
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW row = out + (size_t)cinfo.output_scanline * stride;
            if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
                err.truncated = 1;
                lk_set_message(info, "Premature end of JPEG file");
                jpeg_destroy_decompress(&cinfo);
                return LK_IMAGE_TRUNCATED;
            }
        }
        jpeg_finish_decompress(&cinfo);
    }
    jpeg_destroy_decompress(&cinfo);
    return LK_IMAGE_OK;
}

int lk_jpeg_read_header(const uint8_t *data, size_t size, lk_image_info *info) {
    memset(info, 0, sizeof(*info));
    return lk_jpeg_run(data, size, NULL, info);
}

int lk_jpeg_decode_rgb8(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info) {
    memset(info, 0, sizeof(*info));
    return lk_jpeg_run(data, size, out, info);
}
