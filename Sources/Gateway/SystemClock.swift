import Broker
import Foundation
import NIOCore

/// The real clock: NIO's monotonic uptime (so broker deadlines map onto `NIODeadline`) and wall time.
public enum SystemClock {
    public static func now() -> BrokerInstant {
        BrokerInstant(
            uptimeNanoseconds: NIODeadline.now().uptimeNanoseconds,
            epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)
        )
    }
}
