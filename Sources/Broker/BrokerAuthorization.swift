/// What the broker asks the policy engine about (reference 3.2). The resource is given bare: the client
/// id for `connect`, the topic for `publish`, `retainPublish` and `receive`, the filter as sent (with any
/// `$share/<name>/` prefix) for `subscribe`; the authorizer turns it into an ARN.
public enum DeviceAction: String, Sendable, Hashable, CaseIterable {
    case connect = "iot:Connect"
    case publish = "iot:Publish"
    case retainPublish = "iot:RetainPublish"
    case subscribe = "iot:Subscribe"
    case receive = "iot:Receive"
}

/// One decision. A denial carries its explanation (which policy and statement denied, or that none
/// allowed, with the resource ARN and the variable values), for the log and MQTT 5 reason strings.
public enum AuthorizationVerdict: Sendable, Hashable {
    case allowed
    case denied(String)

    public var isAllowed: Bool { self == .allowed }
}

/// What one connection may do. Made at CONNECT, replaced when the registry changes; used under the
/// broker's lock only, so implementations may cache without locks of their own.
public protocol ConnectionAuthorization: AnyObject {
    func decide(_ action: DeviceAction, _ resource: String, at now: BrokerInstant) -> AuthorizationVerdict
}

/// Who is asking, as the policy variables and connect attributes need it (reference 3.5).
public struct ConnectAuthorizationRequest: Sendable, Hashable {
    public var connection: ConnectionInfo
    public var clientID: String
    /// `iot:ConnectAttributes` `PersistentConnect`: clean session 0 (3.1.1) or a Session Expiry above 0 (5).
    public var persistentSession: Bool
    /// `iot:ConnectAttributes` `LastWill`, and `iot:LastWillTopic`.
    public var willTopic: String?

    public init(connection: ConnectionInfo, clientID: String, persistentSession: Bool, willTopic: String?) {
        self.connection = connection
        self.clientID = clientID
        self.persistentSession = persistentSession
        self.willTopic = willTopic
    }
}

/// The broker's source of authorizations (the gateway's is backed by the registry and the policy
/// engine). Called under the broker's lock: it must not block or call back into the broker.
public protocol BrokerAuthorizer: AnyObject {
    func authorization(for request: ConnectAuthorizationRequest) -> any ConnectionAuthorization
    /// After a change that may affect what connections may do: the connection's new authorization, or
    /// nil when nothing it depends on changed (so a change to one device costs the others a comparison).
    func refreshed(_ current: any ConnectionAuthorization, for request: ConnectAuthorizationRequest) -> (any ConnectionAuthorization)?
    /// Whether an authorization made earlier (outside the broker's lock, see `Broker.receive`) still
    /// reflects the latest registry change; one that is not current is made again under the lock.
    func isCurrent(_ authorization: any ConnectionAuthorization) -> Bool
}

/// An authorization made for a CONNECT before the broker's lock was taken, so that compiling policies
/// runs on the connection's own thread; used only if it was made for the same request and is current.
public struct Preauthorization {
    public var request: ConnectAuthorizationRequest
    public var authorization: any ConnectionAuthorization

    public init(request: ConnectAuthorizationRequest, authorization: any ConnectionAuthorization) {
        self.request = request
        self.authorization = authorization
    }
}

extension Broker {
    /// Logs a denial as AWS does (`AUTHORIZATION_FAILURE`), with the explanation as details.
    func logDenial(_ type: IoTLogEvent.EventType, _ connection: Connection, topic: String?, retain: Bool = false,
                   explanation: String, at now: BrokerInstant) {
        log(type, .failure, connection, at: now, topic: topic, retain: retain, reason: "AUTHORIZATION_FAILURE",
            details: explanation, level: .error)
    }

    /// The first denial among `checks`, nil when all are allowed (or no authorizer is configured).
    func denial(_ authorization: (any ConnectionAuthorization)?, _ checks: [(DeviceAction, String)], at now: BrokerInstant) -> String? {
        guard let authorization else { return nil }
        for (action, resource) in checks {
            if case .denied(let explanation) = authorization.decide(action, resource, at: now) { return explanation }
        }
        return nil
    }

    /// Asks every connected client's authorization again (the registry changed: a policy version, an
    /// attachment, a thing or its groups). A client that may no longer connect is disconnected (MQTT 5:
    /// 0x87); subscriptions that are no longer allowed are removed. Messages are checked against the new
    /// authorization from now on, queued ones included, since Receive is checked on every delivery.
    public func reauthorize(at now: BrokerInstant) -> [BrokerAction] {
        guard let authorizer else { return [] }
        for connection in connections.values.sorted(by: { $0.info.id < $1.info.id }) where connection.state == .connected {
            guard let request = connection.authorizationRequest, let current = connection.authorization,
                  let renewed = authorizer.refreshed(current, for: request) else { continue }
            connection.authorization = renewed
            connection.session?.authorization = renewed
            if case .denied(let explanation) = renewed.decide(.connect, connection.clientID, at: now) {
                serverDisconnect(connection, reason: .notAuthorized, reasonString: explanation, lifecycle: .authError,
                                 logReason: "AUTHORIZATION_FAILURE", at: now)
                continue
            }
            removeSubscriptionsNoLongerAllowed(on: connection, at: now)
        }
        return takeActions()
    }

    /// Subscriptions of the connection's session whose Subscribe its authorization denies are removed and
    /// logged (after a policy change, and when a persistent session resumes under new policies).
    func removeSubscriptionsNoLongerAllowed(on connection: Connection, at now: BrokerInstant) {
        guard let authorization = connection.authorization, let session = connection.session, !session.subscriptions.isEmpty else { return }
        var removed: [String] = []
        for (key, subscription) in session.subscriptions.sorted(by: { $0.key.topic < $1.key.topic }) {
            guard case .denied(let explanation) = authorization.decide(.subscribe, key.topic, at: now) else { continue }
            session.subscriptions[key] = nil
            index.remove(filter: subscription.filter, shareName: subscription.shareName, session: session.key)
            removed.append(key.topic)
            logDenial(.subscribe, connection, topic: key.topic, explanation: "subscription removed: " + explanation, at: now)
        }
        if !removed.isEmpty { publishSubscriptionEvent(subscribed: false, connection, topics: removed, at: now) }
    }
}
