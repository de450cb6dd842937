"""The official Kubernetes Python client against the fake API server.

Run by FakeAPIServerTests (RealClientTests.swift) with a kubeconfig from the fake
and a namespace of its own; exits non-zero with a message on the first failure.
Expects the widgets CRD of Tests/Fixtures to be installed.
"""
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)


def main(kubeconfig, namespace):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    custom = client.CustomObjectsApi()
    group, version, plural = "example.dboperator.io", "v1", "widgets"

    # Secrets: create, list with a label selector, patch, delete.
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="py-secret", labels={"app": "py"}),
        string_data={"password": "s3cret"},
    )
    created = core.create_namespaced_secret(namespace, secret)
    check(created.data == {"password": "czNjcmV0"}, "stringData is stored as base64 data: %r" % created.data)
    listed = core.list_namespaced_secret(namespace, label_selector="app=py")
    check([s.metadata.name for s in listed.items] == ["py-secret"], "label selector lists the secret")
    # The client sends spaces as '+' (app+in+%28py%2Cweb%29): a space, as Go reads it.
    listed = core.list_namespaced_secret(namespace, label_selector="app in (py,web)")
    check([s.metadata.name for s in listed.items] == ["py-secret"], "a set-based selector with spaces lists the secret")
    listed = core.list_namespaced_secret(namespace, label_selector="app notin (py)")
    check(listed.items == [], "notin with spaces excludes the secret: %r" % [s.metadata.name for s in listed.items])
    patched = core.patch_namespaced_secret("py-secret", namespace, {"metadata": {"labels": {"extra": "yes"}}})
    check(patched.metadata.labels == {"app": "py", "extra": "yes"}, "strategic merge patch merges labels")
    core.delete_namespaced_secret("py-secret", namespace)
    try:
        core.read_namespaced_secret("py-secret", namespace)
        check(False, "a deleted secret is gone")
    except ApiException as error:
        check(error.status == 404, "reading a deleted secret gives 404, got %s" % error.status)

    # Custom resources: watch while creating, patching and deleting. The watch starts
    # from the list's resourceVersion, so it sees every change after it however late
    # its request reaches the server (the thread may connect after the patch).
    seen = []
    start = custom.list_namespaced_custom_object(group, version, namespace, plural)["metadata"]["resourceVersion"]

    def watcher():
        w = watch.Watch()
        for event in w.stream(custom.list_namespaced_custom_object, group, version, namespace, plural,
                              resource_version=start, timeout_seconds=20):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=watcher)
    thread.start()
    body = {"apiVersion": "%s/%s" % (group, version), "kind": "Widget", "metadata": {"name": "py-widget"}, "spec": {"color": "green"}}
    made = custom.create_namespaced_custom_object(group, version, namespace, plural, body)
    check(made["spec"]["size"] == 10, "the schema default is applied: %r" % made["spec"])
    listed = custom.list_namespaced_custom_object(group, version, namespace, plural)
    check([i["metadata"]["name"] for i in listed["items"]] == ["py-widget"], "the widget is listed")
    patched = custom.patch_namespaced_custom_object(group, version, namespace, plural, "py-widget", {"spec": {"color": "blue"}})
    check(patched["spec"]["color"] == "blue" and patched["metadata"]["generation"] == 2, "merge patch changes spec and bumps generation")
    try:
        custom.create_namespaced_custom_object(group, version, namespace, plural, dict(body, metadata={"name": "bad"}, spec={"color": "purple"}))
        check(False, "an invalid widget is rejected")
    except ApiException as error:
        check(error.status == 422 and "Unsupported value" in error.body, "invalid widget gives 422 Invalid: %s" % error.body)
    custom.delete_namespaced_custom_object(group, version, namespace, plural, "py-widget")
    thread.join(30)
    check(("ADDED", "py-widget") in seen and ("MODIFIED", "py-widget") in seen and ("DELETED", "py-widget") in seen,
          "the watch saw ADDED, MODIFIED and DELETED: %r" % seen)
    print("python client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
