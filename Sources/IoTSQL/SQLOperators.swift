import Foundation

/// The operators, by AWS's tables: operands of the wrong type give Undefined, never an error.
enum SQLOperators {
    static func apply(_ op: SQLBinaryOperator, _ left: SQLValue, _ right: SQLValue, version: SQLVersion) -> SQLValue {
        switch op {
        case .and, .or:
            guard let a = SQLConvert.bool(left), let b = SQLConvert.bool(right) else { return .undefined }
            return .bool(op == .and ? a && b : a || b)
        case .equal, .notEqual:
            guard let equal = equal(left, right) else { return .undefined }
            return .bool(op == .equal ? equal : !equal)
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            // Both operands as Decimals (numeric Strings included); anything else is Undefined.
            guard isNumeric(left), isNumeric(right), let a = SQLConvert.number(left)?.decimal, let b = SQLConvert.number(right)?.decimal else {
                return .undefined
            }
            switch op {
            case .less: return .bool(a < b)
            case .lessOrEqual: return .bool(a <= b)
            case .greater: return .bool(a > b)
            default: return .bool(a >= b)
            }
        case .add:
            // A String on either side concatenates the other's text.
            if case .string(let a) = left {
                guard let b = SQLConvert.string(right) else { return .undefined }
                return .string(a + b)
            }
            if case .string(let b) = right {
                guard let a = SQLConvert.string(left) else { return .undefined }
                return .string(a + b)
            }
            return arithmetic(op, left, right, version: version)
        case .subtract, .multiply, .divide, .modulo:
            return arithmetic(op, left, right, version: version)
        case .in:
            guard !left.isUndefined, case .array(let elements) = right else { return .undefined }
            return .bool(elements.contains { equal(left, $0) == true })
        }
    }

    static func isNumeric(_ value: SQLValue) -> Bool {
        switch value {
        case .int, .decimal, .string: true
        default: false
        }
    }

    /// `=`: nil (Undefined) when either side is Undefined; numbers compare by value whatever their kind;
    /// values of different types are not equal.
    static func equal(_ left: SQLValue, _ right: SQLValue) -> Bool? {
        switch (left, right) {
        case (.undefined, _), (_, .undefined): return nil
        case (.int(let a), .int(let b)): return a == b
        case (.int, .decimal), (.decimal, .int), (.decimal, .decimal):
            return SQLConvert.number(left)!.decimal == SQLConvert.number(right)!.decimal
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) == true }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.pairs.allSatisfy { pair in equal(pair.value, b[pair.key]) == true }
        default:
            return left == right
        }
    }

    /// `- * / %` (and `+` of numbers): Int with Int is Int (division truncates toward zero, as Java's);
    /// with a Decimal or a numeric String, Decimal. Division by zero is Undefined.
    static func arithmetic(_ op: SQLBinaryOperator, _ left: SQLValue, _ right: SQLValue, version: SQLVersion) -> SQLValue {
        guard isNumeric(left), isNumeric(right), let a = SQLConvert.number(left), let b = SQLConvert.number(right) else { return .undefined }
        if case .int(let x) = a, case .int(let y) = b {
            switch op {
            case .add: if case (let sum, false) = x.addingReportingOverflow(y) { return .int(sum) }
            case .subtract: if case (let difference, false) = x.subtractingReportingOverflow(y) { return .int(difference) }
            case .multiply: if case (let product, false) = x.multipliedReportingOverflow(by: y) { return .int(product) }
            case .divide:
                guard y != 0 else { return .undefined }
                if case (let quotient, false) = x.dividedReportingOverflow(by: y) { return .int(quotient) }
            case .modulo:
                guard y != 0 else { return .undefined }
                if case (let remainder, false) = x.remainderReportingOverflow(dividingBy: y) { return .int(remainder) }
            default: return .undefined
            }
        }
        let x = a.decimal, y = b.decimal
        let result: Decimal
        switch op {
        case .add: result = x + y
        case .subtract: result = x - y
        case .multiply: result = x * y
        case .divide:
            guard !y.isZero else { return .undefined }
            result = x / y
        case .modulo:
            guard !y.isZero else { return .undefined }
            result = remainder(x, y)
        default: return .undefined
        }
        guard result.isFinite else { return .undefined }
        return SQLValue.number(result, version: version)
    }

    /// The remainder with the sign of the dividend (Java's BigDecimal.remainder).
    static func remainder(_ x: Decimal, _ y: Decimal) -> Decimal {
        var quotient = x / y
        var truncated = Decimal()
        NSDecimalRound(&truncated, &quotient, 0, x.sign == y.sign ? .down : .up)
        return x - truncated * y
    }
}
