// The uplink to Azure IoT Hub (or an IoT Edge hub) through the official device SDK over MQTT/TLS.
// The SDK neither retries a failed first connection nor keeps a durable queue, so it runs here with its own
// retries switched off: the forwarder owns retrying, and the outbox owns durability.
import { readFileSync } from 'node:fs';
// The SDK packages are CommonJS; under ESM only their default export is reliable, so destructure it.
import azureIotDevice, { type Client as ClientType, type ModuleClient as ModuleClientType } from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';

const { Client, Message, ModuleClient } = azureIotDevice;
const { Mqtt } = azureIotDeviceMqtt;
import type { Stream } from '../store/outbox.js';

export interface OutgoingMessage {
  id: string;
  stream: Stream;
  body: string;
  properties: Record<string, string>;
}

/** What the forwarder needs of an uplink. One implementation talks to IoT Hub; tests may supply others. */
export interface HubTransport {
  /** Who we are and where we connect to, without secrets, for logs. */
  readonly description: string;
  /** Identity used as the default gateway id. */
  readonly identity: string;
  connect(): Promise<void>;
  /** Resolves when the hub acknowledged the message (MQTT PUBACK). */
  send(message: OutgoingMessage): Promise<void>;
  disconnect(): Promise<void>;
  /** Called when an established connection is lost. */
  onDisconnect(listener: (err: Error | undefined) => void): void;
}

/** IoT Edge module outputs; routes in the deployment manifest send them upstream. */
export const OUTPUTS: Record<Stream, string> = { telemetry: 'telemetry', alarms: 'alarms' };

// The SDK's retry policy interface; "never retry" hands every failure to the forwarder at once.
const noRetry = { shouldRetry: () => false, nextRetryTimeout: () => 0 };

type SdkClient = ClientType | ModuleClientType;

function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export class AzureIotTransport implements HubTransport {
  readonly description: string;
  readonly identity: string;
  private client: SdkClient | null = null;
  private readonly listeners: ((err: Error | undefined) => void)[] = [];

  private constructor(
    private readonly mode: 'device' | 'module',
    private readonly create: () => Promise<SdkClient>,
    description: string,
    identity: string,
    private readonly ca: string | undefined,
  ) {
    this.description = description;
    this.identity = identity;
  }

  /** Device mode: a device (or module) connection string. */
  static fromConnectionString(connectionString: string, caFile?: string): AzureIotTransport {
    const cs = parseConnectionString(connectionString);
    if (!cs.HostName || !cs.DeviceId) {
      throw new Error('hub.connectionString must contain HostName and DeviceId');
    }
    const identity = cs.ModuleId ? `${cs.DeviceId}/${cs.ModuleId}` : cs.DeviceId;
    const host = cs.GatewayHostName ? `${cs.HostName} via ${cs.GatewayHostName}` : cs.HostName;
    const create = async (): Promise<SdkClient> =>
      cs.ModuleId ? ModuleClient.fromConnectionString(connectionString, Mqtt) : Client.fromConnectionString(connectionString, Mqtt);
    return new AzureIotTransport(
      cs.ModuleId ? 'module' : 'device',
      create,
      `${cs.ModuleId ? 'module' : 'device'} ${identity} on ${host}`,
      identity,
      caFile ? readFileSync(caFile, 'utf8') : undefined,
    );
  }

  /** IoT Edge module mode: identity and trust come from the IoT Edge runtime's environment. */
  static fromEdgeEnvironment(env: NodeJS.ProcessEnv = process.env, caFile?: string): AzureIotTransport {
    const identity = `${env.IOTEDGE_DEVICEID ?? '?'}/${env.IOTEDGE_MODULEID ?? '?'}`;
    const via = env.IOTEDGE_GATEWAYHOSTNAME ?? env.EdgeHubConnectionString?.match(/GatewayHostName=([^;]+)/)?.[1] ?? 'edgeHub';
    return new AzureIotTransport(
      'module',
      () => ModuleClient.fromEnvironment(Mqtt),
      `IoT Edge module ${identity} via ${via}`,
      identity,
      caFile ? readFileSync(caFile, 'utf8') : undefined,
    );
  }

  /** True when the process runs as an IoT Edge module (the runtime sets these). */
  static edgeEnvironmentPresent(env: NodeJS.ProcessEnv = process.env): boolean {
    return Boolean(env.IOTEDGE_WORKLOADURI && env.IOTEDGE_MODULEID) || Boolean(env.EdgeHubConnectionString);
  }

  async connect(): Promise<void> {
    await this.disposeClient();
    const client = await this.create();
    client.setRetryPolicy(noRetry);
    if (this.ca) await client.setOptions({ ca: this.ca });
    client.on('disconnect', () => {
      if (this.client !== client) return;
      this.client = null;
      for (const l of this.listeners) l(new Error('connection to the hub lost'));
    });
    client.on('error', (err: Error) => {
      if (this.client !== client) return;
      for (const l of this.listeners) l(err);
    });
    try {
      await client.open();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  async send(m: OutgoingMessage): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    const msg = new Message(m.body);
    msg.messageId = m.id;
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    for (const [k, v] of Object.entries(m.properties)) msg.properties.add(k, v);
    if (this.mode === 'module' && client instanceof ModuleClient) {
      await client.sendOutputEvent(OUTPUTS[m.stream], msg);
    } else {
      await (client as ClientType).sendEvent(msg);
    }
  }

  async disconnect(): Promise<void> {
    await this.disposeClient();
  }

  onDisconnect(listener: (err: Error | undefined) => void): void {
    this.listeners.push(listener);
  }

  private async disposeClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners();
      await c.close().catch(() => undefined);
    }
  }
}
