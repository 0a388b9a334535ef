/// A point in time as the broker sees it: a monotonic reading for timers and a wall-clock reading for
/// the timestamps devices see (lifecycle events, logs). Passed into every call, so tests drive time with
/// a manual clock and never sleep.
public struct BrokerInstant: Sendable, Hashable, Comparable {
    /// Monotonic nanoseconds from an arbitrary origin.
    public var uptimeNanoseconds: UInt64
    /// Milliseconds since the Unix epoch.
    public var epochMilliseconds: Int64

    public init(uptimeNanoseconds: UInt64, epochMilliseconds: Int64) {
        self.uptimeNanoseconds = uptimeNanoseconds
        self.epochMilliseconds = epochMilliseconds
    }

    public static func < (lhs: BrokerInstant, rhs: BrokerInstant) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }

    public func adding(seconds: Double) -> BrokerInstant {
        adding(nanoseconds: UInt64(seconds * 1_000_000_000))
    }

    public func adding(nanoseconds: UInt64) -> BrokerInstant {
        BrokerInstant(
            uptimeNanoseconds: uptimeNanoseconds &+ nanoseconds,
            epochMilliseconds: epochMilliseconds + Int64(nanoseconds / 1_000_000)
        )
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    public func nanoseconds(since earlier: BrokerInstant) -> UInt64 {
        uptimeNanoseconds >= earlier.uptimeNanoseconds ? uptimeNanoseconds - earlier.uptimeNanoseconds : 0
    }
}

extension UInt64 {
    static func seconds(_ s: Int) -> UInt64 { UInt64(s) * 1_000_000_000 }
    static func seconds(_ s: UInt32) -> UInt64 { UInt64(s) * 1_000_000_000 }
}
