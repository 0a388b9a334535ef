import Foundation

/// Commands the CLI prints for the user to paste: they must work as printed, so they name the host and
/// port the running gateway really listens on, this very program by a path that resolves, and quote
/// every path.
enum ClientRecipe {
    /// The host a client on this machine should connect to: the bound address, unless it is a wildcard
    /// (then `localhost`, which resolves here and which the server certificate always names).
    static func connectHost(bound: String) -> String {
        ["", "0.0.0.0", "::", "*"].contains(bound) ? "localhost" : bound
    }

    /// `word` as one shell word.
    static func quoted(_ word: String) -> String {
        let plain = word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-:=+@%,".unicodeScalars.contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// This program as a command: its name when it was found on the PATH, else its absolute path (so
    /// a binary started as `.build/debug/portcullis` or by `swift run` still runs from any folder).
    static var program: String {
        let invoked = CommandLine.arguments.first ?? "portcullis"
        guard invoked.contains("/") else { return invoked }
        return quoted(URL(fileURLWithPath: invoked).standardizedFileURL.path)
    }

    struct Files {
        var ca: String
        var certificate: String
        var key: String
    }

    /// A mosquitto_pub or mosquitto_sub command line over mutual TLS.
    static func mosquitto(_ tool: String, host: String, port: Int, version: String, clientID: String, topic: String,
                          message: String? = nil, retain: Bool = false, files: Files) -> String {
        var words = [tool, "-h", host, "-p", String(port), "-V", version, "-i", quoted(clientID), "-t", quoted(topic)]
        if let message { words += ["-m", quoted(message)] }
        if retain { words.append("-r") }
        words += ["-q", "1"]
        return words.joined(separator: " ") + " \\\n  --cafile \(quoted(files.ca)) --cert \(quoted(files.certificate)) --key \(quoted(files.key))"
    }
}
