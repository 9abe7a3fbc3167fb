// Everything between an image and an index entry needs the layers below, and so does every
// program that embeds and searches: `import LoupeEmbedding` brings them in (but not the trainer,
// LoupeDistillation).
@_exported import LoupeDetection
@_exported import LoupeImage
@_exported import LoupeModels
@_exported import LoupeRetrieval
@_exported import LoupeTensor
@_exported import LoupeWhitening
