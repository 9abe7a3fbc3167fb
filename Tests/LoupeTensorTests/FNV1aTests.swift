import LoupeTensor
import Testing

/// The published FNV-1a 64 test vectors (Fowler, Noll, Vo): recipe checksums and cache keys must
/// not change from one Loupe version to the next.
@Test func fnv1aMatchesItsPublishedVectors() {
    #expect(FNV1a.hex("") == "cbf29ce484222325")
    #expect(FNV1a.hex("a") == "af63dc4c8601ec8c")
    #expect(FNV1a.hex("foobar") == "85944171f73967e8")
    var words = FNV1a()
    words.combine(UInt64(Float(1).bitPattern))  // a whole word folds in at once, as recipes hash floats
    var byHand: UInt64 = 0xcbf2_9ce4_8422_2325
    byHand = (byHand ^ 0x3F80_0000) &* 0x100_0000_01b3
    #expect(words.value == byHand)
}
