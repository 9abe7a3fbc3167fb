// The umbrella module: `import Loupe` brings in every public module, plus the pipelines that tie
// them together (embedding, evaluation).
@_exported import LoupeDetection
@_exported import LoupeDistillation
@_exported import LoupeImage
@_exported import LoupeModels
@_exported import LoupeRetrieval
@_exported import LoupeTensor
@_exported import LoupeWhitening
