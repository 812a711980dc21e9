export { Broker, type BrokerOptions, startBroker } from './broker.js';
export { type BrokerConfig, type BrokerConfigInput, parseBrokerConfig } from './config.js';
