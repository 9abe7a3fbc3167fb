public import LoupeEmbedding
public import LoupeTensor

extension StudentHead {
    /// ∂L/∂parameter for every parameter, from ∂L/∂output.
    public func backward(_ t: Trace, gradient: Tensor) -> [String: Tensor] {
        let p = parameters
        let cells = configuration.bins * configuration.bins
        let dz = l2NormalizeBackward(t.fc2, output: t.output, gradient: gradient)
        let fc2 = linearBackward(t.fc1, weight: p["fc2.weight"]!, gradient: dz)
        let fc1 = linearBackward(t.pooled, weight: p["fc1.weight"]!, gradient: reluBackward(output: t.fc1, gradient: fc2.input!))
        let dA2 = generalizedMeanOverCellsBackward(t.conv2, output: t.pooled, gradient: fc1.input!, cells: cells)
        let conv2 = linearBackward(t.conv1, weight: p["conv2.weight"]!, gradient: reluBackward(output: t.conv2, gradient: dA2))
        let conv1 = linearBackward(t.cells, weight: p["conv1.weight"]!, gradient: reluBackward(output: t.conv1, gradient: conv2.input!),
                                   needsInput: false)
        return ["fc2.weight": fc2.weight, "fc2.bias": fc2.bias, "fc1.weight": fc1.weight, "fc1.bias": fc1.bias,
                "conv2.weight": conv2.weight, "conv2.bias": conv2.bias, "conv1.weight": conv1.weight, "conv1.bias": conv1.bias]
    }

}
