import Testing
import TestSupport

/// The rules of the test harness itself: in CI a missing service fails, elsewhere it skips.
@Suite("Test services")
struct TestServicesTests {
    @Test("the env file is parsed as KEY=value lines, ignoring comments and blanks")
    func parsesEnvFile() {
        let parsed = ServiceEnvironment.parseEnvFile("""
            # comment
            DBOP_PG_HOST=127.0.0.1

            DBOP_PG_PASSWORD="with spaces = and equals"
            EMPTY=
            """)
        #expect(parsed == ["DBOP_PG_HOST": "127.0.0.1", "DBOP_PG_PASSWORD": "with spaces = and equals", "EMPTY": ""])
    }

    @Test("with CI=true a test whose service variable is missing runs and fails naming the variable")
    func ciRunsAndNamesMissingVariable() {
        let services = TestServices(environment: ServiceEnvironment(values: ["CI": "true", "DBOP_PG_HOST": "127.0.0.1"]))
        #expect(services.shouldRun(.postgresql))
        #expect(throws: ServiceUnavailable(service: .postgresql, reason: "DBOP_PG_PORT is not set")) {
            try services.postgresql()
        }
        let message = services.check(.postgresql)!.description
        #expect(message.contains("DBOP_PG_PORT"))
        #expect(message.contains("ci/services.sh start"))
    }

    @Test("outside CI a test whose service is missing is skipped")
    func outsideCISkips() {
        let services = TestServices(environment: ServiceEnvironment(values: [:]))
        for service in TestService.allCases {
            #expect(!services.shouldRun(service))
        }
    }

    @Test("an empty variable counts as missing")
    func emptyVariableIsMissing() {
        let services = TestServices(environment: ServiceEnvironment(values: ["DBOP_KUBECTL": ""]))
        #expect(services.check(.kubectl)?.reason == "DBOP_KUBECTL is not set")
    }

    @Test("a configured server that does not listen is reported with its address")
    func unreachableServerIsNamed() {
        // Port 1 (tcpmux) is never served on these machines.
        let services = TestServices(environment: ServiceEnvironment(values: [
            "CI": "true", "DBOP_MYSQL_HOST": "127.0.0.1", "DBOP_MYSQL_PORT": "1",
            "DBOP_MYSQL_USER": "u", "DBOP_MYSQL_PASSWORD": "secret-pw",
        ]))
        let problem = services.check(.mysql)
        #expect(problem?.reason.hasPrefix("no server at 127.0.0.1:1") == true)
        #expect(problem?.description.contains("secret-pw") == false)
        #expect(services.shouldRun(.mysql))
    }

    @Test("an S3 endpoint that is not a URL is reported as such")
    func badEndpoint() {
        let services = TestServices(environment: ServiceEnvironment(values: [
            "DBOP_S3_ENDPOINT": "not a url", "DBOP_S3_REGION": "r", "DBOP_S3_BUCKET": "b",
            "DBOP_S3_ACCESS_KEY_ID": "k", "DBOP_S3_SECRET_ACCESS_KEY": "s",
        ]))
        #expect(services.check(.s3)?.reason.contains("DBOP_S3_ENDPOINT") == true)
    }
}
