import AsyncHTTPClient
import AWSSigV4
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Rules

/// The rules engine's HTTP side: http actions (batched when a rule asks) and the confirmation messages of
/// topic rule destinations. Requests run concurrently, at most `maximumInFlight` at once, off the rules'
/// drain task, so a slow endpoint delays no other rule. What waits is bounded; a full queue fails the
/// action into its rule's error action. AWS's retry logic: at most three tries, again only after a
/// timeout, a connection failure, 429 or 5xx, and not after a response over 16,384 bytes.
final class RuleHTTP: Sendable {
    static let attemptTimeout: TimeAmount = .seconds(4)
    static let maximumTries = 3
    static let maximumResponseBytes = 16_384
    static let maximumInFlight = 32
    static let maximumWaiting = 10_000
    static let maximumWaitingBytes = 64 << 20
    static let maximumOpenBatches = 10_000
    static let failurePrefix = "HttpAction failed to make a request to the specified endpoint."

    /// One client for the process, which lives as long as it: redirects are not followed (a destination
    /// is confirmed for its URL, not for wherever that points), bodies are not decompressed.
    private static let client = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: attemptTimeout, read: attemptTimeout),
                                                decompression: .disabled))

    /// One POST: where, with what, signed or not.
    struct Post: Sendable {
        var url: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var sigv4: (region: String, service: String)?
    }

    private struct Job: Sendable {
        let post: Post
        let completion: @Sendable (String?) -> Void
    }

    private struct BatchKey: Hashable {
        let rule: String
        let url: String
        let topic: String?
    }

    private struct OpenBatch {
        let id: Int
        let config: RuleAction.HTTP.Batch
        var post: Post
        var elements: [[UInt8]] = []
        var bytes = 2
        var completions: [@Sendable (String?) -> Void] = []
    }

    private struct State {
        var inFlight = 0
        var waiting = CircularBuffer<Job>()
        var waitingBytes = 0
        var batches: [BatchKey: OpenBatch] = [:]
        var nextBatchID = 0
    }

    private let state = NIOLockedValueBox(State())
    let settings: RulesSettings
    private let tls: TLSConfiguration?
    private let logger: Logger
    /// Whether a URL is still under an ENABLED destination when its turn comes (a destination disabled
    /// or deleted while requests wait stops them).
    private let allowed: @Sendable (String) -> Bool

    init(settings: RulesSettings, logger: Logger, allowed: @escaping @Sendable (String) -> Bool) {
        self.settings = settings
        self.logger = logger
        self.allowed = allowed
        var tls: TLSConfiguration?
        if let file = settings.caFile {
            do {
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))]
                tls = configuration
            } catch {
                logger.error("rules.caFile cannot be read: https endpoints are checked against the system's roots only",
                             metadata: ["file": "\(file)", "error": "\(error)"])
            }
        }
        self.tls = tls
    }

    // MARK: http actions

    /// Sends an http action's POST, alone or in its rule's open batch; `completion` gets the failure, if any.
    func submit(_ request: ActionRequest.HTTPPost, rule: String, completion: @escaping @Sendable (String?) -> Void) {
        let post = Post(url: request.url, headers: request.headers, body: request.body, sigv4: request.sigv4)
        guard let config = request.batch else {
            enqueue(Job(post: post, completion: completion))
            return
        }
        // A batch is a JSON array of the payloads: JSON as it is, other UTF-8 text as a string.
        let element: [UInt8]
        if (try? JSONSerialization.jsonObject(with: Data(request.body), options: [.fragmentsAllowed])) != nil {
            element = request.body
        } else if let text = String(validating: request.body, as: UTF8.self),
                  let quoted = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]) {
            element = Array(quoted.dropFirst().dropLast())
        } else {
            completion("\(Self.failurePrefix) A binary payload cannot be batched: base64-encode it in the rule's SQL.")
            return
        }
        let key = BatchKey(rule: rule, url: request.url, topic: config.batchAcrossTopics ? nil : request.topic)
        var full: [OpenBatch] = []
        var timer: (id: Int, milliseconds: Int)?
        let accepted = state.withLockedValue { state -> Bool in
            if let open = state.batches[key], open.bytes + element.count + 1 > config.maxBatchSizeBytes {
                // This element would overflow the open batch: that one goes now, this one starts the next.
                state.batches[key] = nil
                full.append(open)
            }
            if state.batches[key] == nil {
                guard state.batches.count < Self.maximumOpenBatches else { return false }
                state.nextBatchID += 1
                state.batches[key] = OpenBatch(id: state.nextBatchID, config: config, post: post)
                timer = (state.nextBatchID, config.maxBatchOpenMs)
            }
            state.batches[key]!.elements.append(element)
            state.batches[key]!.bytes += element.count + 1
            state.batches[key]!.completions.append(completion)
            // The batch's headers are those of the last message added (AWS's rule).
            state.batches[key]!.post.headers = post.headers
            if state.batches[key]!.elements.count >= config.maxBatchSize || state.batches[key]!.bytes >= config.maxBatchSizeBytes {
                full.append(state.batches.removeValue(forKey: key)!)
            }
            return true
        }
        guard accepted else {
            completion("\(Self.failurePrefix) The rules engine has \(Self.maximumOpenBatches) batches open already.")
            return
        }
        for batch in full { send(batch) }
        if let timer {
            Task {
                try? await Task.sleep(for: .milliseconds(timer.milliseconds))
                let due = self.state.withLockedValue { state -> OpenBatch? in
                    guard state.batches[key]?.id == timer.id else { return nil }
                    return state.batches.removeValue(forKey: key)
                }
                if let due { self.send(due) }
            }
        }
    }

    private func send(_ batch: OpenBatch) {
        var post = batch.post
        post.body = Array("[".utf8) + Array(batch.elements.joined(separator: Array(",".utf8))) + Array("]".utf8)
        post.headers.removeAll { $0.name.lowercased() == "content-type" }
        post.headers.append(("content-type", "application/json"))
        let completions = batch.completions
        enqueue(Job(post: post) { failure in for completion in completions { completion(failure) } })
    }

    private func enqueue(_ job: Job) {
        let size = job.post.body.count + 512
        let (start, refused) = state.withLockedValue { state -> (Bool, Bool) in
            if state.inFlight < Self.maximumInFlight {
                state.inFlight += 1
                return (true, false)
            }
            guard state.waiting.count < Self.maximumWaiting, state.waitingBytes + size <= Self.maximumWaitingBytes else { return (false, true) }
            state.waiting.append(job)
            state.waitingBytes += size
            return (false, false)
        }
        if refused {
            job.completion("\(Self.failurePrefix) The rules engine's HTTP queue is full (\(Self.maximumWaiting) requests or \(Self.maximumWaitingBytes >> 20) MB waiting).")
        } else if start {
            Task { await self.work(first: job) }
        }
    }

    /// Runs `first`, then whatever waits, until nothing does: one of `maximumInFlight` workers.
    private func work(first: Job) async {
        var job: Job? = first
        while let current = job {
            if allowed(current.post.url) {
                current.completion(await post(current.post))
            } else {
                current.completion("\(Self.failurePrefix) Its topic rule destination is no longer ENABLED.")
            }
            job = state.withLockedValue { state -> Job? in
                guard let next = state.waiting.popFirst() else {
                    state.inFlight -= 1
                    return nil
                }
                state.waitingBytes -= next.post.body.count + 512
                return next
            }
        }
    }

    // MARK: destinations

    /// The confirmation message of a destination: `POST {confirmationUrl}/?confirmationToken=...` with the
    /// token, the enableUrl and AWS's headers. The failure, if it could not be delivered.
    func confirm(confirmationUrl: String, arn: String, token: String, enableUrl: String) async -> String? {
        let joined: String
        if confirmationUrl.contains("?") {
            joined = "\(confirmationUrl)&confirmationToken=\(token)"
        } else {
            joined = "\(confirmationUrl.hasSuffix("/") ? confirmationUrl : confirmationUrl + "/")?confirmationToken=\(token)"
        }
        let body = ["arn": arn, "confirmationToken": token, "enableUrl": enableUrl, "messageType": "DestinationConfirmation"]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return await post(Post(url: joined, headers: [("x-amz-rules-engine-message-type", "DestinationConfirmation"),
                                                     ("x-amz-rules-engine-destination-arn", arn), ("content-type", "application/json")],
                               body: Array(data), sigv4: nil))
    }

    // MARK: the request

    /// Headers the client sets itself (or that would confuse the framing): a rule cannot set them.
    static let reservedHeaders: Set<String> = ["host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer"]

    /// One POST with AWS's retries; the failure in AWS's words, or nil once the endpoint answered 2xx.
    func post(_ post: Post) async -> String? {
        guard let url = URL(string: post.url), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return "\(Self.failurePrefix) The url \(post.url.prefix(256)) is not a valid URL."
        }
        guard scheme == "https" || (scheme == "http" && settings.allowInsecureURLs) else {
            return "\(Self.failurePrefix) Only https URLs are allowed (rules.allowInsecureURLs is off)."
        }
        var request = HTTPClientRequest(url: post.url)
        request.method = .POST
        request.tlsConfiguration = tls
        for header in post.headers where !Self.reservedHeaders.contains(header.name.lowercased()) {
            request.headers.add(name: header.name, value: header.value)
        }
        if let sigv4 = post.sigv4 {
            guard let key = settings.signingAccessKeyID, let secret = settings.signingSecretAccessKey else {
                return "\(Self.failurePrefix) The action asks for SigV4, and this gateway has no signing key (rules.signingAccessKeyID)."
            }
            let defaultPort = scheme == "https" ? 443 : 80
            let name = host.contains(":") ? "[\(host)]" : host
            let authority = url.port.map { $0 == defaultPort ? name : "\(name):\($0)" } ?? name
            let path = url.path.isEmpty ? "/" : (URLComponents(string: post.url)?.percentEncodedPath ?? url.path)
            let target = url.query.map { "\(path)?\($0)" } ?? path
            let digest = SHA256.hash(data: post.body).map { String(format: "%02x", $0) }.joined()
            let signer = SigV4Signer(credential: SigV4Credential(accessKeyID: key, secretAccessKey: secret), region: sigv4.region, service: sigv4.service)
            let signed = signer.sign(SigV4Request(method: "POST", target: target, headers: [("host", authority), ("x-amz-content-sha256", digest)],
                                                  payloadSHA256: digest),
                                     at: Int64(Date().timeIntervalSince1970), extraSignedHeaders: ["x-amz-content-sha256"])
            for header in signed.headers where header.name.lowercased() != "host" {
                request.headers.replaceOrAdd(name: header.name, value: header.value)
            }
        }
        request.body = .bytes(post.body)
        var last = Self.failurePrefix
        let timeoutText = "\(Self.failurePrefix) Request timeout to \(host):\(url.port ?? (scheme == "https" ? 443 : 80)) after \(Self.attemptTimeout.nanoseconds / 1_000_000) ms"
        for attempt in 1...Self.maximumTries {
            if attempt > 1 { try? await Task.sleep(for: .milliseconds(100 << (attempt - 2))) }
            switch await Self.attempt(request) {
            case .answered(let status, let reason, let size):
                if (200..<300).contains(status) { return nil }
                last = "\(Self.failurePrefix) StatusCode: \(status). Reason: \(reason)."
                guard status == 429 || (500...599).contains(status), size <= Self.maximumResponseBytes else { return last }
            case .timedOut:
                last = timeoutText
            case .unreachable(let error):
                last = "\(Self.failurePrefix) \(error.prefix(256))"
            case .refused(let error):
                // TLS verification, a bad header, ...: trying again changes nothing (AWS retries only
                // timeouts, failed connections, 429 and 5xx).
                return "\(Self.failurePrefix) \(error.prefix(256))"
            }
        }
        return "\(last) after \(Self.maximumTries - 1) retries"
    }

    private enum Attempt {
        case answered(status: UInt, reason: String, size: Int)
        case timedOut
        case unreachable(String)
        case refused(String)
    }

    private struct AttemptTimeout: Error {}

    /// One try, its whole exchange (the body too) under one deadline: AsyncHTTPClient's own deadline ends
    /// with the response head, and an endpoint trickling its body must not hold a worker.
    private static func attempt(_ request: HTTPClientRequest) async -> Attempt {
        do {
            return try await withThrowingTaskGroup(of: Attempt.self) { group in
                group.addTask {
                    let response = try await client.execute(request, timeout: attemptTimeout)
                    var size = 0
                    for try await chunk in response.body {
                        size += chunk.readableBytes
                        if size > maximumResponseBytes { break }
                    }
                    return .answered(status: response.status.code, reason: response.status.reasonPhrase, size: size)
                }
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(attemptTimeout.nanoseconds))
                    throw AttemptTimeout()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch is AttemptTimeout {
            return .timedOut
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout].contains(error) {
            return .timedOut
        } catch let error as HTTPClientError where [.remoteConnectionClosed, .cancelled].contains(error) {
            return .unreachable(String(describing: error))
        } catch let error as NIOConnectionError {
            return .unreachable(String(describing: error))
        } catch let error as IOError {
            return .unreachable(String(describing: error))
        } catch let error as ChannelError {
            if case .connectTimeout = error { return .timedOut }
            return .unreachable(String(describing: error))
        } catch {
            return .refused(String(describing: error))
        }
    }
}
