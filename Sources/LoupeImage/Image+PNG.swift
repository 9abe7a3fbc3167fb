public import Foundation
internal import LoupeKernels
internal import LoupeTensor

extension Image {
    /// The image encoded as an 8-bit RGB PNG (pixels rounded and clamped to 0...255).
    public func pngData() throws(ImageError) -> Data {
        let plane = width * height
        var rgb = [UInt8](repeating: 0, count: plane * 3)
        pixels.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { lk_planar_to_rgb8(src.baseAddress!, plane, $0.baseAddress!) }
        }
        // zlib's worst case is a little over the raw size: one pass with a generous buffer
        var capacity = plane * 3 + height + 4096 + plane * 3 / 100
        for _ in 0..<2 {
            var out = [UInt8](repeating: 0, count: capacity)
            let size = rgb.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { lk_png_encode_rgb8(src.baseAddress!, Int32(width), Int32(height), $0.baseAddress!, capacity) }
            }
            if size == 0 { break }
            if size <= capacity { return Data(out.prefix(size)) }
            capacity = size
        }
        throw .unwritable(path: "<memory>", reason: "libpng could not encode the image")
    }

    /// Writes the image as PNG, atomically (a temporary file beside `url`, renamed into place).
    public func writePNG(to url: URL) throws(ImageError) {
        let data = try pngData()
        do throws(FileWriteError) {
            let file = try AtomicFile(url)
            try file.write(data)
            try file.commit()
        } catch {
            throw .unwritable(path: url.path, reason: error.reason)
        }
    }
}
