import Foundation
import ObjectStore
import Testing

/// The signer reproduces the examples AWS publishes for S3 ("Signature Calculations
/// for the Authorization Header: Transferring Payload in a Single Chunk").
@Suite("AWS Signature Version 4")
struct SigV4SignerTests {
    let signer = SigV4Signer(
        credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    private func authorization(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "Authorization" }?.1
    }

    @Test("GET Object with a Range header")
    func getObject() {
        let headers = signer.sign(
            method: "GET", path: "/test.txt", query: [],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(authorization(headers) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    @Test("PUT Object with a Date header, a storage class and a key needing encoding")
    func putObject() {
        let body = Data("Welcome to Amazon S3.".utf8)
        let hash = SigV4Signer.payloadHash(body)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let headers = signer.sign(
            method: "PUT", path: "/test$file.text", query: [],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: hash, date: date)
        #expect(authorization(headers) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test("GET Bucket lifecycle: a query parameter without a value")
    func getLifecycle() {
        let headers = signer.sign(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [("Host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(authorization(headers)?.hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
    }

    @Test("GET Bucket (list objects): query parameters sorted by name")
    func listObjects() {
        let headers = signer.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [("Host", "examplebucket.s3.amazonaws.com")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(authorization(headers)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test("URI encoding keeps unreserved characters and encodes every other byte in uppercase hex")
    func uriEncoding() {
        #expect(SigV4Signer.uriEncode("a b/c$é~", encodeSlash: false) == "a%20b/c%24%C3%A9~")
        #expect(SigV4Signer.uriEncode("a/b", encodeSlash: true) == "a%2Fb")
    }

    @Test("credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    func environmentCredentials() {
        let credentials = S3Credentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"])
        #expect(credentials?.accessKeyID == "id")
        #expect(S3Credentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "id"]) == nil)
    }
}
