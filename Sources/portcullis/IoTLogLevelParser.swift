import Broker
import Logging
import PortcullisServer

enum IoTLogLevelParser {
    static func parse(_ text: String) -> IoTLogLevel? { IoTLogLevel(awsName: text) }
}

