import Foundation
import LoupeImage
import LoupeTensor
import Testing

@Suite struct DecodeTests {
    /// Every image under ../shared/data decodes: 3,809 files (1,486 JPEG, 2,323 PNG) — the 2,717
    /// of the retrieval sets and mask-photos' 546 COCO photos with their 546 instance-mask PNGs.
    @Test func everySharedImageDecodes() throws {
        let files = imageFiles(under: sharedData)
        let masks = files.filter { $0.path.contains("/mask-photos/") }
        #expect(files.count - masks.count == 2717, "expected the 2,717 images of the retrieval sets, found \(files.count - masks.count)")
        #expect(masks.count == 1092, "expected mask-photos' 546 photos and 546 masks, found \(masks.count)")
        #expect(files.filter { $0.pathExtension.lowercased() == "jpg" }.count == 1486)
        var failures: [String] = []
        for url in files {
            do {
                let image = try Image(contentsOf: url)
                if image.width < 1 || image.height < 1 { failures.append(url.lastPathComponent) }
            } catch { failures.append("\(url.lastPathComponent): \(error)") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    /// Loupe's decode equals Pillow's (after exif_transpose) on a sample of the real images.
    @Test func decodeMatchesPillow() throws {
        let index = try fixtureIndex()
        for (name, entry) in index.sorted(by: { $0.key < $1.key }) {
            let file = try SafetensorsFile(contentsOf: fixtures.appendingPathComponent("resize/\(name).safetensors"))
            let expected = planar(try file.tensor(named: "decoded"))
            let image = try Image(contentsOf: URL(fileURLWithPath: entry.source))
            #expect(image.pixels.shape == expected.shape, "\(entry.source)")
            guard image.pixels.shape == expected.shape else { continue }
            let d = differences(image.pixels, expected)
            // same libjpeg IDCT (ISLOW) and upsampling: identical but for rare ±1 rounding
            #expect(d.mean <= 0.02 && d.max <= 2, "\(entry.source): mean \(d.mean), max \(d.max)")
        }
    }

    /// EXIF orientations, palette/gray/alpha/16-bit/interlaced PNGs, gray and progressive JPEGs.
    @Test(arguments: [
        "orientation1.jpg", "orientation2.jpg", "orientation3.jpg", "orientation4.jpg", "orientation5.jpg",
        "orientation6.jpg", "orientation7.jpg", "orientation8.jpg", "gray.jpg", "progressive.jpg",
        "rgba.png", "gray.png", "gray_alpha.png", "palette.png", "palette_trns.png", "bilevel.png",
        "rgb16.png", "gray16.png", "interlaced.png", "rgba16_interlaced.png",
    ])
    func specialCasesDecodeLikePillow(_ name: String) throws {
        let folder = fixtures.appendingPathComponent("decode")
        let expected = planar(try SafetensorsFile(contentsOf: folder.appendingPathComponent("\(name).expected.safetensors"))
            .tensor(named: "expected"))
        let image = try Image(contentsOf: folder.appendingPathComponent(name))
        #expect(image.pixels.shape == expected.shape)
        guard image.pixels.shape == expected.shape else { return }
        let d = differences(image.pixels, expected)
        if name.hasSuffix(".png") { #expect(d.max == 0, "\(name): max difference \(d.max)") }
        else { #expect(d.mean <= 0.02 && d.max <= 2, "\(name): mean \(d.mean), max \(d.max)") }
    }

    @Test func orientationCanBeLeftAlone() throws {
        let url = fixtures.appendingPathComponent("decode/orientation6.jpg")
        let raw = try Image(contentsOf: url, options: .init(appliesOrientation: false))
        let turned = try Image(contentsOf: url)
        #expect(raw.width == turned.height && raw.height == turned.width)
        #expect(raw.oriented(6) == turned)
    }

    @Test func pngRoundTrip() throws {
        let image = try Image(contentsOf: darknetData.appendingPathComponent("eagle.jpg"))
        let back = try Image(data: try image.pngData())
        #expect(back == image)  // decoded pixels are integers, so PNG keeps them exactly
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("x.png")
        try image.writePNG(to: url)
        #expect(try Image(contentsOf: url) == image)
        // overwriting replaces the file in one step and leaves no temporary file behind
        let small = image.resized(width: 16, height: 12)
        try small.writePNG(to: url)
        #expect(try Image(contentsOf: url) == small)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["x.png"])
        #expect(throws: ImageError.self) { try image.writePNG(to: URL(fileURLWithPath: "/no/such/folder/x.png")) }
    }
}

struct FixtureEntry { var source: String; var sizes: [(Int, Int)] }

func fixtureIndex() throws -> [String: FixtureEntry] {
    let url = fixtures.appendingPathComponent("resize/index.json")
    guard let data = try? Data(contentsOf: url) else {
        Issue.record("\(url.path) is missing: run Scripts/test.sh (it generates the fixtures)")
        return [:]
    }
    let json = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    return json.mapValues { e in
        FixtureEntry(source: e["source"] as! String,
                     sizes: (e["sizes"] as! [[Any]]).map { (($0[0] as! NSNumber).intValue, ($0[1] as! NSNumber).intValue) })
    }
}
