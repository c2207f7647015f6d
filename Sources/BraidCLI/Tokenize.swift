// `braid tokenize`: the token ids of a text as a JSON array.
import ArgumentParser
import Braid

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of TEXT as a JSON array (BOS included when the model asks for it).")

    @OptionGroup var modelOptions: ModelOptions

    @Argument(help: "The text to tokenize; special tokens such as <|im_start|> are recognized.")
    var text: String

    func run() throws {
        try reportingErrors {
            let (model, _) = try modelOptions.load()
            try printJSON(model.tokenizer.encode(text).map(Int.init))
        }
    }
}
