import Broker
import NIOCore

extension BrokerHost {
    /// A TLS handshake failed (no certificate, untrusted or expired certificate, not TLS). There is no
    /// MQTT connection yet, so the broker never sees it; the IoT log does.
    func recordHandshakeFailure(_ details: String, remote: SocketAddress?) {
        let now = SystemClock.now()
        eventSink.record(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: .error, eventType: .connect, status: .failure,
            sourceIP: remote?.ipAddress, sourcePort: remote?.port, reason: "AUTHENTICATION_FAILURE",
            details: "TLS handshake failed: \(details)"))
    }
}
