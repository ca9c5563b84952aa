/** The data file was written by a newer agent than this one. */
export class SchemaTooNewError extends Error {
  readonly code = 'schema_too_new';
  constructor(
    readonly path: string,
    readonly fileVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      `${path} has schema version ${fileVersion}, this edge-agent understands up to ${supportedVersion}: upgrade the agent before opening it`,
    );
    this.name = 'SchemaTooNewError';
  }
}

export class NotInitializedError extends Error {
  readonly code = 'not_initialized';
  constructor(readonly dataDir: string) {
    super(`no agent in ${dataDir}: run \`edge-agent init --store <id> --data ${dataDir}\` first`);
    this.name = 'NotInitializedError';
  }
}

export class AlreadyInitializedError extends Error {
  readonly code = 'already_initialized';
  constructor(
    readonly dataDir: string,
    readonly store: string,
  ) {
    super(`${dataDir} already holds the agent of store ${store}; a replica id is never reused`);
    this.name = 'AlreadyInitializedError';
  }
}

/** Another live agent process already serves this data folder (it would reuse the replica id). */
export class AgentRunningError extends Error {
  readonly code = 'agent_running';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly url: string,
  ) {
    super(`an agent (pid ${pid}, ${url}) is already running on ${dataDir}: stop it first (one process per replica), or delete ${dataDir}/agent.json if pid ${pid} is not an agent`);
    this.name = 'AgentRunningError';
  }
}
