public import Foundation
public import LoupeTensor
internal import LoupeKernels

/// A decoded RGB image: planar `Float` pixels in 0...255.
///
/// `pixels` is `[3, H, W]` (R, G, B planes). Keeping 0...255 rather than 0...1 lets each network
/// apply its own normalisation preset (``Normalization``) in one pass, and lets PNG encoding round
/// back to the same bytes.
public struct Image: Sendable, Equatable {
    /// `[3, H, W]`, values in 0...255.
    public var pixels: Tensor

    /// Width in pixels.
    public var width: Int { pixels.shape[2] }
    /// Height in pixels.
    public var height: Int { pixels.shape[1] }

    /// Wraps planar pixels.
    /// - Precondition: `pixels` is `[3, H, W]` with `H, W >= 1`.
    public init(pixels: Tensor) {
        LoupeTensor.check(pixels.rank == 3 && pixels.shape[0] == 3 && pixels.shape[1] >= 1 && pixels.shape[2] >= 1,
                     "Image needs [3, H, W] pixels, got \(pixels.shape)")
        self.pixels = pixels
    }

    /// A `width × height` image filled with one colour.
    public init(width: Int, height: Int, color: RGB) {
        var t = Tensor(zeros: [3, height, width])
        t.withUnsafeMutableBufferPointer { p in
            let plane = width * height
            for (c, v) in [color.red, color.green, color.blue].enumerated() {
                for i in 0..<plane { p[c * plane + i] = Float(v) }
            }
        }
        self.init(pixels: t)
    }
}

/// An 8-bit RGB colour.
public struct RGB: Sendable, Hashable {
    public var red, green, blue: UInt8
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) { (self.red, self.green, self.blue) = (red, green, blue) }
}

/// Why an image could not be read. Each case carries the context needed to act on it.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// Zero bytes.
    case empty
    /// Neither PNG nor JPEG.
    case unrecognizedFormat
    /// The declared size exceeds the pixel budget; nothing was allocated.
    case tooLarge(width: Int, height: Int, maximumPixelCount: Int)
    /// The data ends before the image does.
    case truncated(format: ImageFormat, detail: String)
    /// The decoder rejected the data.
    case corrupt(format: ImageFormat, detail: String)
    /// A valid file of a kind Loupe does not decode (e.g. CMYK JPEG).
    case unsupported(format: ImageFormat, detail: String)
    /// Writing an encoded image failed.
    case unwritable(path: String, reason: String)
    /// Decoding the file at `path` failed with `reason` (what ``Image/init(contentsOf:options:)``
    /// throws, so that a message names the file).
    indirect case file(path: String, reason: ImageError)

    /// The file the error is about, when it names one.
    public var path: String? {
        switch self {
        case let .unreadable(path, _), let .unwritable(path, _), let .file(path, _): path
        default: nil
        }
    }

    /// The decoder's error without the file around it.
    public var reason: ImageError {
        if case let .file(_, reason) = self { return reason }
        return self
    }

    public var description: String {
        switch self {
        case let .file(path, reason): "\(path): \(reason)"
        case let .unreadable(path, reason): "cannot read \(path): \(reason)"
        case .empty: "image data is empty"
        case .unrecognizedFormat: "not a PNG or JPEG image"
        case let .tooLarge(w, h, limit): "image of \(w)×\(h) pixels exceeds the budget of \(limit) pixels"
        case let .truncated(format, detail): "truncated \(format) image: \(detail)"
        case let .corrupt(format, detail): "corrupt \(format) image: \(detail)"
        case let .unsupported(format, detail): "unsupported \(format) image: \(detail)"
        case let .unwritable(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

/// The encodings Loupe decodes.
public enum ImageFormat: String, Sendable {
    case png = "PNG", jpeg = "JPEG"

    /// The format announced by the first bytes, if any.
    public init?(sniffing data: Data) {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
        else if data.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else { return nil }
    }
}

/// How images are decoded.
public struct ImageDecodingOptions: Sendable {
    /// Images whose declared width × height exceeds this are refused before any pixel memory is
    /// allocated. 100 megapixels (default) is larger than any camera photo and bounds a decode at
    /// 1.2 GB of Float pixels, so a crafted header cannot exhaust memory.
    public var maximumPixelCount: Int = 100_000_000
    /// Apply a JPEG's EXIF orientation (phone photos are stored sideways with a rotation tag), as
    /// Pillow's `ImageOps.exif_transpose` does.
    public var appliesOrientation: Bool = true
    /// Files larger than this are refused before they are read (1 GiB by default: a PNG of the
    /// largest allowed pixel count, stored uncompressed, is 300 MB).
    public var maximumFileBytes: Int = 1 << 30

    public init(maximumPixelCount: Int = 100_000_000, appliesOrientation: Bool = true, maximumFileBytes: Int = 1 << 30) {
        self.maximumPixelCount = maximumPixelCount
        self.appliesOrientation = appliesOrientation
        self.maximumFileBytes = maximumFileBytes
    }
}

extension Image {
    /// Decodes the PNG or JPEG file at `url`.
    ///
    /// Only a regular file is read: a pipe, a device or a socket given an image's name is refused
    /// without waiting on it, and so is a file over ``ImageDecodingOptions/maximumFileBytes``.
    /// The bytes are read, not mapped, so a file cut short or deleted by another program while it
    /// is decoded is decoded as it was read (a truncated image), never a fault.
    public init(contentsOf url: URL, options: ImageDecodingOptions = .init()) throws(ImageError) {
        let data = try Image.read(url, limit: options.maximumFileBytes)
        do { try self.init(data: data, options: options) } catch { throw .file(path: url.path, reason: error) }
    }

    /// The bytes of the regular file at `url`, at most `limit` of them.
    static func read(_ url: URL, limit: Int) throws(ImageError) -> Data {
        // non-blocking, so that opening a pipe with no writer returns at once
        let fd = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied" : String(cString: strerror(errno))
            throw .unreadable(path: url.path, reason: reason)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: url.path, reason: String(cString: strerror(errno))) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .unreadable(path: url.path, reason: "it is a folder, not an image")
        default: throw .unreadable(path: url.path, reason: "not a regular file (a pipe, device or socket)")
        }
        let size = Int(info.st_size)
        guard size <= limit else { throw .unreadable(path: url.path, reason: "the file has \(size) bytes, more than the \(limit) allowed") }
        var data = Data(count: size)
        let got = data.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < size {
                let n = Foundation.read(fd, raw.baseAddress! + done, size - done)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { return n < 0 ? -1 : done }  // end of file: it shrank since fstat
                done += n
            }
            return done
        }
        guard got >= 0 else { throw .unreadable(path: url.path, reason: String(cString: strerror(errno))) }
        if got < size { data.count = got }
        return data
    }

    /// Decodes PNG or JPEG bytes (the format is sniffed from the signature).
    ///
    /// Gray, palette, 16-bit and alpha PNGs become RGB (16-bit by the high byte, alpha dropped as
    /// Pillow's `convert("RGB")` does); JPEGs decode with Pillow's libjpeg settings and their EXIF
    /// orientation applied. Truncated or corrupt data throws; nothing is half-decoded.
    public init(data: Data, options: ImageDecodingOptions = .init()) throws(ImageError) {
        guard !data.isEmpty else { throw .empty }
        guard let format = ImageFormat(sniffing: data) else { throw .unrecognizedFormat }
        let readHeader = format == .png ? lk_png_read_header : lk_jpeg_read_header
        let decode = format == .png ? lk_png_decode_rgb8 : lk_jpeg_decode_rgb8
        var info = lk_image_info()
        let headerStatus = data.withUnsafeBytes { raw in
            readHeader(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, &info)
        }
        try Image.checkStatus(headerStatus, format, &info)
        let width = Int(info.width), height = Int(info.height)
        guard width >= 1, height >= 1 else { throw .corrupt(format: format, detail: "image of \(width)×\(height) pixels") }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= options.maximumPixelCount else {
            throw .tooLarge(width: width, height: height, maximumPixelCount: options.maximumPixelCount)
        }
        var rgb = [UInt8](repeating: 0, count: pixels * 3)
        let status = data.withUnsafeBytes { raw in
            rgb.withUnsafeMutableBufferPointer { out in
                decode(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, out.baseAddress!, &info)
            }
        }
        try Image.checkStatus(status, format, &info)
        guard Int(info.width) == width, Int(info.height) == height else {
            throw .corrupt(format: format, detail: "size changed between header and decode")
        }
        let planar = Tensor(uninitializedShape: [3, height, width]) { out in
            rgb.withUnsafeBufferPointer { lk_rgb8_to_planar($0.baseAddress!, pixels, 0, pixels, out.baseAddress!) }
        }
        self.init(pixels: planar)
        if options.appliesOrientation && info.orientation != 1 {
            self = oriented(Int(info.orientation))
        }
    }

    private static func checkStatus(_ status: Int32, _ format: ImageFormat, _ info: inout lk_image_info) throws(ImageError) {
        guard status != Int32(LK_IMAGE_OK) else { return }
        let detail = withUnsafeBytes(of: &info.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch status {
        case Int32(LK_IMAGE_TRUNCATED): throw .truncated(format: format, detail: detail)
        case Int32(LK_IMAGE_UNSUPPORTED): throw .unsupported(format: format, detail: detail)
        case Int32(LK_IMAGE_UNRECOGNIZED): throw .unrecognizedFormat
        default: throw .corrupt(format: format, detail: detail.isEmpty ? "decoder error" : detail)
        }
    }

    /// The image transformed by EXIF orientation `orientation` (1...8): 2 mirror, 3 rotate 180°,
    /// 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
    public func oriented(_ orientation: Int) -> Image {
        LoupeTensor.check((1...8).contains(orientation), "EXIF orientation must be 1...8, got \(orientation)")
        guard orientation != 1 else { return self }
        let (h, w) = (height, width)
        let shape = orientation >= 5 ? [3, w, h] : [3, h, w]
        let out = Tensor(uninitializedShape: shape) { y in
            pixels.withUnsafeBufferPointer { x in
                lk_orient(x.baseAddress!, 3, Int32(h), Int32(w), Int32(orientation), y.baseAddress!)
            }
        }
        return Image(pixels: out)
    }
}
