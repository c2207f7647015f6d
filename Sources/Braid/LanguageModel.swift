// A model ready to use: the mapped GGUF file, its tokenizer, its transformer and its chat format.
@_exported import BraidGGUF
@_exported import BraidKernels
@_exported import BraidModels
@_exported import BraidSampling
@_exported import BraidTokenizer
import Foundation

/// A loaded language model.
///
/// ```swift
/// let model = try LanguageModel.load("smollm2-135m-instruct")
/// let result = try model.generate(prompt: "The capital of France is", parameters: .init(maxTokens: 16))
/// print(result.text)
/// ```
public final class LanguageModel: Sendable {
    /// The GGUF file the model was loaded from.
    public let file: GGUFFile
    /// The file's name without its directory and extension, for messages.
    public let name: String
    /// Text ↔ token ids.
    public let tokenizer: Tokenizer
    /// The transformer.
    public let transformer: TransformerModel
    /// The chat format, when the file has a template Braid supports (`chatTemplateError` says why not).
    public let chatTemplate: ChatTemplate?
    /// Why `chatTemplate` is nil.
    public let chatTemplateError: BraidError?

    /// Loads the model at `path`; `requantizedTo`, `activations`, `outputTokens` and `kvCache` as
    /// `TransformerModel.init(gguf:requantizedTo:activations:outputTokens:kvCache:)`.
    public init(path: String, requantizedTo target: TensorType? = nil, activations: ActivationPrecision = .fifteenBit,
                outputTokens: Int? = nil, kvCache: KVCacheType = .f32) throws {
        guard KernelPath.buildRunsOnThisCPU else {
            throw BraidError.unsupportedCPU("this build of Braid uses \(KernelPath.targetDescription), which this CPU or OS lacks; "
                                            + "build with the flags tools/swift-flags prints on this machine")
        }
        file = try GGUFFile(path: path)
        name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        transformer = try TransformerModel(gguf: file, requantizedTo: target, activations: activations, outputTokens: outputTokens,
                                           kvCache: kvCache)
        tokenizer = try Tokenizer(gguf: file)
        guard tokenizer.vocabularySize == transformer.configuration.vocabularySize else {
            throw GGUFError.invalidValue(key: "tokenizer.ggml.tokens",
                                         reason: "\(tokenizer.vocabularySize) tokens but \(transformer.configuration.vocabularySize) output logits")
        }
        if let template = file.metadata["tokenizer.chat_template"]?.string {
            do {
                chatTemplate = try ChatTemplate(template: template)
                chatTemplateError = nil
            } catch let error as BraidError {
                chatTemplate = nil
                chatTemplateError = error
            }
        } else {
            chatTemplate = nil
            chatTemplateError = .unsupportedChatTemplate("the model has no tokenizer.chat_template")
        }
    }

    /// Loads a model by path or by manifest name (nil: the default model).
    public static func load(_ nameOrPath: String? = nil, requantizedTo target: TensorType? = nil,
                            activations: ActivationPrecision = .fifteenBit, outputTokens: Int? = nil,
                            kvCache: KVCacheType = .f32) throws -> LanguageModel {
        try LanguageModel(path: ModelCatalog.resolve(nameOrPath), requantizedTo: target, activations: activations,
                          outputTokens: outputTokens, kvCache: kvCache)
    }

    /// The model's hyper-parameters.
    public var configuration: ModelConfiguration { transformer.configuration }

    /// The prompt for one user message in the model's chat format.
    public func chatPrompt(user message: String, system: String? = nil) throws -> String {
        guard let chatTemplate else { throw chatTemplateError ?? .unsupportedChatTemplate("none") }
        return chatTemplate.prompt(user: message, system: system)
    }
}
