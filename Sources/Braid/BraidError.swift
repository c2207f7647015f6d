// Errors of the public API that are about the request, not the file.

/// Why a request to Braid cannot be carried out.
public enum BraidError: Error, Equatable, CustomStringConvertible {
    /// The model argument is neither a file nor a name in models/manifest.json.
    case modelNotFound(String, known: [String])
    /// The model is in the manifest but has not been fetched yet.
    case modelNotDownloaded(name: String, expectedPath: String)
    /// The model's chat template is not one Braid can apply.
    case unsupportedChatTemplate(String)
    /// The prompt does not fit in the context.
    case promptTooLong(tokens: Int, context: Int)
    /// The prompt has no tokens.
    case emptyPrompt
    /// A numeric option is out of range.
    case invalidParameter(String)
    /// This build uses instructions the CPU does not have.
    case unsupportedCPU(String)
    /// The KV cache's memory budget cannot hold the prompt.
    case kvCacheTooSmall(String)
    /// Two models that must work together cannot (a draft model with another vocabulary).
    case incompatibleModels(String)

    public var description: String {
        switch self {
        case let .modelNotFound(argument, known):
            "no model file or manifest name '\(argument)' (known names: \(known.isEmpty ? "none; models/manifest.json not found" : known.joined(separator: ", ")))"
        case let .modelNotDownloaded(name, path):
            "model '\(name)' is not downloaded (expected at \(path)); run: tools/fetch-models \(name)"
        case let .unsupportedChatTemplate(why):
            "unsupported chat template: \(why)"
        case let .promptTooLong(tokens, context):
            "prompt is \(tokens) tokens, longer than the context of \(context) tokens"
        case .emptyPrompt:
            "the prompt is empty"
        case let .invalidParameter(why):
            why
        case let .unsupportedCPU(why):
            "unsupported CPU: \(why)"
        case let .kvCacheTooSmall(why):
            "KV cache too small: \(why)"
        case let .incompatibleModels(why):
            "incompatible models: \(why)"
        }
    }
}
