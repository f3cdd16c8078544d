/**
 * The Kubernetes Service in front of the inference server: one fixed address that clients and
 * Prometheus use while the pods behind it change. A rollout starts the new server next to the old
 * one and routes new connections to it only once it is ready, as a rolling update does, so a
 * deploy or a rollback does not take the service down (nor fire IrisClassifierTargetDown).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './procs.js';

export class Service {
  /** Port of the server that new connections go to; undefined before the first rollout. */
  private backend?: number;
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  url = '';
  hostPort = '';

  async start(): Promise<this> {
    const port = await freePort();
    this.server = createServer((client) => this.forward(client));
    await new Promise<void>((done, fail) => {
      this.server!.once('error', fail);
      this.server!.listen(port, '127.0.0.1', () => done());
    });
    this.hostPort = `127.0.0.1:${port}`;
    this.url = `http://${this.hostPort}`;
    return this;
  }

  /** New connections go to the server on `port`; open ones stay where they are until it closes them. */
  routeTo(port: number): void {
    this.backend = port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
  }

  private forward(client: Socket): void {
    if (this.backend === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(this.backend, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      // Either side gone: the other goes too, as a closed connection through kube-proxy does.
      s.once('error', () => undefined);
      s.once('close', () => (s === client ? upstream : client).destroy());
    }
    client.pipe(upstream).pipe(client);
  }
}
