/// A Resource or Condition string after policy variables are substituted: literal text, `*` (any run of
/// characters, `/` included) and `?` (one character). MQTT's `+` and `#` are ordinary characters here
/// (reference 3.4). `${*}`, `${?}` and `${$}` stand for the literal characters.
public struct PolicyPattern: Sendable, Hashable {
    public enum Token: Sendable, Hashable {
        case literal(String)
        case anyRun
        case anyCharacter
    }

    public var tokens: [Token]

    /// Why a template could not be turned into a pattern: the variables that had no usable value.
    public struct Unresolved: Error, Sendable, Hashable {
        public var variables: [String]
    }

    /// Substitutes `${...}` in `template` with `resolve` (variables are only honoured in 2012-10-17
    /// documents; pass `substitute: false` for 2008-10-17, where `${` is literal text).
    public init(template: String, substitute: Bool, resolve: (String) -> String?) throws(Unresolved) {
        var tokens: [Token] = []
        var literal = ""
        var unresolved: [String] = []
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = "" }
        }
        var index = template.startIndex
        while index < template.endIndex {
            let character = template[index]
            if substitute, character == "$", template[index...].hasPrefix("${"),
               let close = template[index...].firstIndex(of: "}") {
                let name = String(template[template.index(index, offsetBy: 2)..<close])
                switch name {
                case "*", "?", "$": literal.append(name)
                default:
                    if let value = resolve(name) { literal += value } else { unresolved.append(name) }
                }
                index = template.index(after: close)
                continue
            }
            switch character {
            case "*": flush(); if tokens.last != .anyRun { tokens.append(.anyRun) }
            case "?": flush(); tokens.append(.anyCharacter)
            default: literal.append(character)
            }
            index = template.index(after: index)
        }
        flush()
        guard unresolved.isEmpty else { throw Unresolved(variables: unresolved) }
        self.tokens = tokens
    }

    /// A pattern with no wildcards at all.
    public var isLiteral: Bool { tokens.allSatisfy { if case .literal = $0 { true } else { false } } }

    /// Whether the whole of `text` matches (case-sensitive unless `ignoringCase`).
    public func matches(_ text: String, ignoringCase: Bool = false) -> Bool {
        let subject = Array((ignoringCase ? text.lowercased() : text).unicodeScalars)
        let tokens = ignoringCase ? self.tokens.map { token -> Token in
            if case .literal(let value) = token { return .literal(value.lowercased()) }
            return token
        } : self.tokens
        // Iterative glob matching with backtracking to the last `*` (linear in practice, no recursion).
        var pieces: [(scalars: [Unicode.Scalar]?, any: Bool)] = []
        for token in tokens {
            switch token {
            case .literal(let value): pieces.append((Array(value.unicodeScalars), false))
            case .anyCharacter: pieces.append((nil, false))
            case .anyRun: pieces.append((nil, true))
            }
        }
        var position = 0
        var piece = 0
        var starPiece = -1
        var starPosition = 0
        while position < subject.count || piece < pieces.count {
            if piece < pieces.count {
                let current = pieces[piece]
                if current.any {
                    starPiece = piece
                    starPosition = position
                    piece += 1
                    continue
                }
                if let scalars = current.scalars {
                    if position + scalars.count <= subject.count, subject[position..<(position + scalars.count)].elementsEqual(scalars) {
                        position += scalars.count
                        piece += 1
                        continue
                    }
                } else if position < subject.count {
                    position += 1
                    piece += 1
                    continue
                }
            }
            // Mismatch: let the last `*` swallow one more character, or fail.
            guard starPiece >= 0, starPosition < subject.count else { return false }
            starPosition += 1
            position = starPosition
            piece = starPiece + 1
        }
        return true
    }
}
