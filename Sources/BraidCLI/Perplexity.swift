// `braid perplexity`: perplexity of a text file, computed as llama-perplexity does.
import ArgumentParser
import Braid
import Foundation

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a text file over non-overlapping chunks, each scored on its second half (as llama-perplexity).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The text file.")
    var file: String

    @Option(name: [.customShort("c"), .customLong("context")], parsing: .unconditional, help: "Tokens per chunk.")
    var context = 512

    func run() throws {
        try reportingErrors {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw BraidError.invalidParameter("cannot read \(file) as UTF-8 text")
            }
            let (model, _) = try modelOptions.load()
            let result = try model.perplexity(of: text, context: context, threads: modelOptions.threads)
            try printJSON(["perplexity": result.perplexity, "chunks": result.chunks] as [String: Any])
        }
    }
}
