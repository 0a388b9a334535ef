import ArgumentParser

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "A self-hosted secure device gateway for the Internet of Things, compatible with AWS IoT Core.",
        discussion: """
            Quick start:
              portcullis serve                       start the gateway (MQTT over mutual TLS on port 8883)
              portcullis device create my-device     a thing, its key and certificate, and a policy to connect with
              portcullis policy test p.json --action iot:Publish --resource t   decide a request offline
            """,
        subcommands: [ServeCommand.self, DeviceCommand.self, PolicyCommand.self, RuleCommand.self, CRLCommand.self, AccessKeyCommand.self, ConfigCommand.self,
                      BenchCommand.self],
        defaultSubcommand: nil
    )
}
