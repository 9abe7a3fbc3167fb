import LoupeTensor
import Testing

/// Programmer errors trap with a message naming the shapes; exit tests observe it in a child process.
@Suite struct ShapeCheckTests {
    @Test func convolutionRejectsMismatchedChannels() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = convolution2D(Tensor(zeros: [1, 3, 8, 8]), weight: Tensor(zeros: [4, 5, 3, 3]))
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("[4, 5, 3, 3]") && text.contains("[1, 3, 8, 8]"))
    }

    @Test func addRejectsDifferentShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(zeros: [2, 3]) + Tensor(zeros: [3, 2])
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("[2, 3]") && text.contains("[3, 2]"))
    }

    @Test func linearRejectsWrongFeatureCount() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = linear(Tensor(zeros: [2, 7]), weight: Tensor(zeros: [4, 8]))
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("[2, 7]") && text.contains("[4, 8]"))
    }

    @Test func kernelLargerThanInputIsRejected() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = maxPool2D(Tensor(zeros: [1, 1, 2, 2]), kernelSize: 5, stride: 1)
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("maxPool2D"))
    }
}
