/// A Resource or Condition string after policy variables are substituted: literal text, `*` (any run of
/// characters, `/` included) and `?` (one character). MQTT's `+` and `#` are ordinary characters here
/// (reference 3.4). `${*}`, `${?}` and `${$}` stand for the literal characters.
public struct PolicyPattern: Sendable, Hashable {
    public enum Token: Sendable, Hashable {
        case literal(String)
        case anyRun
        case anyCharacter
    }

    public let tokens: [Token]
    let pieces: [Piece]

    /// Why a template could not be turned into a pattern: the variables that had no usable value.
    public struct Unresolved: Error, Sendable, Hashable {
        public var variables: [String]
    }

    /// Substitutes `${...}` in `template` with `resolve` (variables are only honoured in 2012-10-17
    /// documents; pass `substitute: false` for 2008-10-17, where `${` is literal text).
    public init(template: String, substitute: Bool, resolve: (String) -> String?) throws(Unresolved) {
        // Scanned as UTF-8: every character with a meaning here is ASCII, and the text between them is
        // copied in runs, not character by character (this runs for every resource of every policy at
        // each CONNECT).
        var tokens: [Token] = []
        var literal = ""
        var unresolved: [String] = []
        let utf8 = template.utf8
        var run = utf8.startIndex
        var index = run
        func flush(upTo end: String.Index) {
            if run < end { literal += template[run..<end] }
        }
        func closeLiteral() {
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = "" }
        }
        while index < utf8.endIndex {
            let byte = utf8[index]
            if substitute, byte == UInt8(ascii: "$") {
                let open = utf8.index(after: index)
                if open < utf8.endIndex, utf8[open] == UInt8(ascii: "{"),
                   let close = utf8[open...].firstIndex(of: UInt8(ascii: "}")) {
                    flush(upTo: index)
                    let name = String(template[utf8.index(after: open)..<close])
                    switch name {
                    case "*", "?", "$": literal += name
                    default:
                        if let value = resolve(name) { literal += value } else { unresolved.append(name) }
                    }
                    index = utf8.index(after: close)
                    run = index
                    continue
                }
            }
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") {
                flush(upTo: index)
                closeLiteral()
                if byte == UInt8(ascii: "?") {
                    tokens.append(.anyCharacter)
                } else if tokens.last != .anyRun {
                    tokens.append(.anyRun)
                }
                index = utf8.index(after: index)
                run = index
                continue
            }
            index = utf8.index(after: index)
        }
        flush(upTo: utf8.endIndex)
        closeLiteral()
        guard unresolved.isEmpty else { throw Unresolved(variables: unresolved) }
        self.tokens = tokens
        self.pieces = Self.pieces(tokens)
    }

    /// A pattern with no wildcards at all.
    public var isLiteral: Bool { tokens.allSatisfy { if case .literal = $0 { true } else { false } } }

    /// Whether the whole of `text` matches (case-sensitive unless `ignoringCase`). ASCII text (topics,
    /// client ids, nearly always) is matched on its UTF-8 bytes in place, without copying it.
    public func matches(_ text: String, ignoringCase: Bool = false) -> Bool {
        if ignoringCase {
            let lowered = PolicyPattern(tokens: tokens.map { token -> Token in
                if case .literal(let value) = token { return .literal(value.lowercased()) }
                return token
            })
            return lowered.matches(text.lowercased())
        }
        let pieces = self.pieces
        if let ascii = text.utf8.withContiguousStorageIfAvailable({ bytes -> Bool? in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return Self.glob(bytes, pieces) { if case .literal(let utf8, _) = $0 { utf8 } else { nil } }
        }), let ascii {
            return ascii
        }
        return Self.glob(Array(text.unicodeScalars), pieces) { if case .literal(_, let scalars) = $0 { scalars } else { nil } }
    }

    /// The tokens as the matcher walks them, built once.
    enum Piece: Sendable, Hashable {
        case literal(utf8: [UInt8], scalars: [Unicode.Scalar])
        case anyCharacter
        case anyRun
    }

    private init(tokens: [Token]) {
        self.tokens = tokens
        self.pieces = Self.pieces(tokens)
    }

    static func pieces(_ tokens: [Token]) -> [Piece] {
        tokens.map { token in
            switch token {
            case .literal(let value): .literal(utf8: Array(value.utf8), scalars: Array(value.unicodeScalars))
            case .anyCharacter: .anyCharacter
            case .anyRun: .anyRun
            }
        }
    }

    /// Iterative glob matching with backtracking to the last `*` (linear in practice, no recursion), over
    /// bytes or scalars: `literal` gives a piece's elements in that unit.
    static func glob<Subject: RandomAccessCollection>(
        _ subject: Subject, _ pieces: [Piece], literal: (Piece) -> [Subject.Element]?
    ) -> Bool where Subject.Element: Equatable, Subject.Index == Int {
        let base = subject.startIndex
        let count = subject.count
        var position = 0
        var piece = 0
        var starPiece = -1
        var starPosition = 0
        while position < count || piece < pieces.count {
            if piece < pieces.count {
                let current = pieces[piece]
                if case .anyRun = current {
                    starPiece = piece
                    starPosition = position
                    piece += 1
                    continue
                }
                if let elements = literal(current) {
                    if position + elements.count <= count,
                       subject[(base + position)..<(base + position + elements.count)].elementsEqual(elements) {
                        position += elements.count
                        piece += 1
                        continue
                    }
                } else if position < count {
                    position += 1
                    piece += 1
                    continue
                }
            }
            // Mismatch: let the last `*` swallow one more character, or fail.
            guard starPiece >= 0, starPosition < count else { return false }
            starPosition += 1
            position = starPosition
            piece = starPiece + 1
        }
        return true
    }
}
