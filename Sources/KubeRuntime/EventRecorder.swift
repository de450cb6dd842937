import Foundation
import KubeClient
import KubeModel
import Logging
import Synchronization

/// Records core/v1 Events on objects, as `kubectl describe` shows them. A repeat of
/// the same reason and message on the same object bumps the count of one Event
/// instead of making another. Best effort: failures are logged, never thrown.
public final class EventRecorder: Sendable {
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    private let api: any KubernetesAPI
    private let component: String
    private let logger: Logger
    /// (object uid, type, reason, message) -> (event name, count)
    private let seen = Mutex<[String: (String, Int)]>([:])

    public init(api: any KubernetesAPI, component: String, logger: Logger) {
        self.api = api
        self.component = component
        self.logger = logger
    }

    public func record<T: KubernetesObject>(_ object: T, type: EventType, reason: Reason, message: String) async {
        let metadata = object.metadata
        guard let namespace = metadata.namespace ?? (T.resource.namespaced ? nil : "default"), let name = metadata.name else { return }
        let key = "\(metadata.uid ?? name)|\(type.rawValue)|\(reason)|\(message)"
        let now = KubeTime.now()
        if let (eventName, count) = seen.withLock({ $0[key] }) {
            do {
                _ = try await api.patch(
                    Event.resource, namespace: namespace, name: eventName,
                    patch: ["count": .int(Int64(count + 1)), "lastTimestamp": .string(now)], type: .merge, subresource: nil)
                seen.withLock { $0[key] = (eventName, count + 1) }
                return
            } catch {
                // The event may have been deleted (or expired): make a new one.
            }
        }
        // "<object>.<random hex>", the object's part cut so the whole stays a valid name
        // (253 characters) for objects with the longest names.
        var objectPart = String(name.prefix(253 - 17))
        while let last = objectPart.last, last == "-" || last == "." { objectPart.removeLast() }
        let eventName = "\(objectPart).\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let event = Event(
            metadata: ObjectMeta(name: eventName, namespace: namespace),
            involvedObject: ObjectReference(apiVersion: T.resource.apiVersion, kind: T.resource.kind, name: name, namespace: metadata.namespace, uid: metadata.uid),
            reason: reason, message: message, type: type.rawValue, count: 1, firstTimestamp: now, lastTimestamp: now,
            source: EventSource(component: component))
        do {
            _ = try await api.create(event)
            seen.withLock { $0[key] = (eventName, 1) }
        } catch {
            logger.info("could not record event", metadata: ["k8s.object": "\(namespace)/\(name)", "event.reason": "\(reason)", "error": "\(error)"])
        }
    }
}
