// The umbrella module: `import Loupe` brings in every public module and nothing else. A program
// that only embeds and searches can import LoupeEmbedding instead and leave the trainer out.
@_exported import LoupeDetection
@_exported import LoupeDistillation
@_exported import LoupeEmbedding
@_exported import LoupeImage
@_exported import LoupeModels
@_exported import LoupeRetrieval
@_exported import LoupeTensor
@_exported import LoupeWhitening
