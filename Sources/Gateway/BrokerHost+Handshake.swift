import Broker
import NIOCore

extension BrokerHost {
    /// A TLS handshake failed (no certificate, untrusted or expired certificate, not TLS). There is no
    /// MQTT connection yet, so the broker never sees it; the IoT log does.
    func recordHandshakeFailure(_ details: String, remote: SocketAddress?) {
        recordConnectFailure("TLS handshake failed: \(details)", remote: remote)
    }

    /// A connection refused or ended before or outside the broker (the shared port's ALPN and WebSocket
    /// checks), logged as a failed Connect with these details.
    func recordConnectFailure(_ details: String, reason: String = "AUTHENTICATION_FAILURE", remote: SocketAddress?) {
        let now = SystemClock.now()
        eventSink.record(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: .error, eventType: .connect, status: .failure,
            sourceIP: remote?.ipAddress, sourcePort: remote?.port, reason: reason, details: details))
    }
}
