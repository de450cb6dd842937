import Foundation
import Testing

@testable import ObjectStore

/// The S3/STS response parser (hand-written so the image does not carry libxml2 and
/// libicu): the documents the services send, byte for byte as they send them, and
/// the malformed ones it must refuse.
@Suite("S3 XML responses")
struct S3XMLTests {
    static func parse(_ text: String) -> S3XMLElement? { S3XMLElement.parse(Data(text.utf8)) }

    @Test("ListObjectsV2 as AWS writes it: declaration, namespace, escaped keys, character references, paging")
    func listObjects() throws {
        let xml = try #require(Self.parse("""
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>dbop</Name><Prefix></Prefix>\
            <IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
            <Contents><Key>shop/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified>\
            <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1107</Size><StorageClass>STANDARD</StorageClass></Contents>\
            <Contents><Key>line&#13;&#x0A;break é ✓ </Key><Size>0</Size></Contents></ListBucketResult>
            """))
        #expect(xml.name == "ListBucketResult")
        #expect(xml["IsTruncated"]?.text == "true")
        #expect(xml["NextContinuationToken"]?.text == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        #expect(xml["Prefix"]?.text == "")
        let contents = xml.all("Contents")
        #expect(contents.count == 2)
        #expect(contents[0]["Key"]?.text == "shop/a&b <c> \"d\" 'e'")
        #expect(contents[0]["ETag"]?.text == "\"9b2cf535f27731c974343645a3985328\"")
        #expect(contents[0]["Size"]?.text == "1107")
        #expect(contents[1]["Key"]?.text == "line\r\nbreak é ✓ ", "keys keep their spaces and references")
    }

    @Test("pretty-printed documents, prefixed names, self-closing elements, CDATA, comments, attributes in both quotes")
    func shapes() throws {
        let xml = try #require(Self.parse("""
            \u{FEFF}<?xml version='1.0'?>
            <!-- an STS answer -->
            <sts:AssumeRoleWithWebIdentityResponse xmlns:sts='https://sts.amazonaws.com/doc/2011-06-15/' a="1 > 0">
              <sts:AssumeRoleWithWebIdentityResult>
                <Credentials>
                  <AccessKeyId>ASIA</AccessKeyId>
                  <SessionToken><![CDATA[to<k>en&]]></SessionToken>
                  <Empty/>
                  <Spaced />
                </Credentials>
              </sts:AssumeRoleWithWebIdentityResult>
            </sts:AssumeRoleWithWebIdentityResponse>

            """))
        #expect(xml.name == "AssumeRoleWithWebIdentityResponse")
        let credentials = try #require(xml["AssumeRoleWithWebIdentityResult"]?["Credentials"])
        #expect(credentials["AccessKeyId"]?.text == "ASIA")
        #expect(credentials["SessionToken"]?.text == "to<k>en&")
        #expect(credentials["Empty"] == S3XMLElement(name: "Empty"))
        #expect(credentials["Spaced"]?.children.isEmpty == true)
        #expect(credentials.children.map(\.name) == ["AccessKeyId", "SessionToken", "Empty", "Spaced"])
    }

    @Test("an Error body, as S3 answers a refused request")
    func error() throws {
        let xml = try #require(Self.parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"))
        #expect(xml.name == "Error")
        #expect(xml["Code"]?.text == "SignatureDoesNotMatch")
        #expect(xml["Message"]?.text == "The request signature we calculated does not match")
    }

    @Test("malformed or unsafe documents are refused", arguments: [
        "", "   ", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a/><b/>", "<a></a>trailing", "<a>&unknown;</a>", "<a>&amp</a>",
        "<a>&#xD800;</a>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a b></a>", "<a b=c></a>", "<a b=\"c></a>", "<a><![CDATA[x</a>",
        "<a><!-- open</a>", "</a>",
    ])
    func refused(_ text: String) {
        #expect(Self.parse(text) == nil, "\(text)")
    }
}
