// Finds model files: a model argument is a path to a GGUF file or a name from models/manifest.json
// (e.g. `smollm2-135m-instruct`), whose files `tools/fetch-models` downloads into models/.
import Foundation

/// The models listed in a `models/manifest.json`.
public struct ModelCatalog: Sendable {
    /// One manifest entry.
    public struct Entry: Sendable, Decodable {
        /// The name a model argument can use, e.g. `smollm2-135m-instruct`.
        public let name: String
        /// What the model is.
        public let description: String
        /// File name inside the catalog's directory.
        public let file: String
        /// Size of the assembled file.
        public let bytes: Int
        /// sha256 of the assembled file.
        public let sha256: String
    }

    private struct Manifest: Decodable {
        let `default`: String
        let models: [Entry]
    }

    /// The folder holding manifest.json and the model files.
    public let directory: URL
    /// Every model of the manifest.
    public let entries: [Entry]
    /// Name of the default model.
    public let defaultName: String

    /// Reads the manifest in `directory`.
    public init(directory: URL) throws {
        let data = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        let manifest = try JSONDecoder().decode(Manifest.self, from: data)
        self.directory = directory
        entries = manifest.models
        defaultName = manifest.default
    }

    /// The catalog found from `$BRAID_MODELS`, else from `models/` in the working directory or one
    /// of its parents, else next to the `braid` executable's checkout; nil when there is none.
    /// A manifest that exists but cannot be read is an error, not an absence.
    public static func locate() throws -> ModelCatalog? {
        var candidates: [URL] = []
        if let override = ProcessInfo.processInfo.environment["BRAID_MODELS"] {
            candidates.append(URL(fileURLWithPath: override))
        }
        for start in [FileManager.default.currentDirectoryPath, CommandLine.arguments.first.map {
            URL(fileURLWithPath: $0).resolvingSymlinksInPath().deletingLastPathComponent().path
        } ?? ""] where !start.isEmpty {
            var folder = URL(fileURLWithPath: start)
            for _ in 0..<8 {
                candidates.append(folder.appendingPathComponent("models"))
                folder.deleteLastPathComponent()
            }
        }
        for folder in candidates where FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) {
            do {
                return try ModelCatalog(directory: folder)
            } catch {
                throw BraidError.invalidParameter("cannot read \(folder.appendingPathComponent("manifest.json").path): \(error)")
            }
        }
        return nil
    }

    /// The file path for `argument`: an existing file as is, or a manifest name's file.
    /// Nil means the default model.
    public static func resolve(_ argument: String?) throws -> String {
        if let argument, FileManager.default.fileExists(atPath: argument) { return argument }
        let catalog = try locate()
        guard let catalog else { throw BraidError.modelNotFound(argument ?? "(default)", known: []) }
        let name = argument ?? catalog.defaultName
        guard let entry = catalog.entries.first(where: { $0.name == name }) else {
            throw BraidError.modelNotFound(name, known: catalog.entries.map(\.name))
        }
        let path = catalog.directory.appendingPathComponent(entry.file).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw BraidError.modelNotDownloaded(name: name, expectedPath: path)
        }
        return path
    }
}
