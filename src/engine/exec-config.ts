/** The body of POST /containers/{id}/exec. */
export interface ExecCreateRequest {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
  Privileged?: boolean;
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

export interface ExecConfig {
  Cmd: string[];
  Tty: boolean;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Env: string[];
  WorkingDir: string;
  User: string;
  Privileged: boolean;
  DetachKeys: string;
  ConsoleSize: [number, number] | null;
}

/** The container's environment with the exec's values replacing same-named ones; TERM with a TTY, as dockerd. */
export function execEnv(containerEnv: string[], execEnvList: string[], tty: boolean): string[] {
  const out = new Map<string, string>();
  const key = (e: string) => e.split('=', 1)[0];
  for (const e of containerEnv) out.set(key(e), e);
  if (tty && !out.has('TERM')) out.set('TERM', 'TERM=xterm');
  for (const e of execEnvList) out.set(key(e), e);
  return [...out.values()];
}

/** GET /exec/{id}/json */
export function execView(id: string, containerId: string, cfg: ExecConfig, s: { running: boolean; exitCode: number | null; pid: number }) {
  return {
    ID: id,
    Running: s.running,
    ExitCode: s.exitCode,
    ProcessConfig: {
      tty: cfg.Tty,
      entrypoint: cfg.Cmd[0],
      arguments: cfg.Cmd.slice(1),
      privileged: cfg.Privileged,
      ...(cfg.User ? { user: cfg.User } : {}),
    },
    OpenStdin: cfg.AttachStdin,
    OpenStderr: cfg.AttachStderr,
    OpenStdout: cfg.AttachStdout,
    CanRemove: false,
    ContainerID: containerId,
    DetachKeys: cfg.DetachKeys,
    Pid: s.pid,
  };
}
