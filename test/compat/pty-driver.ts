/**
 * Runs a command on a real pseudo-terminal (python3's pty module) with a window size, types inputs with
 * pauses between them, and returns the transcript and exit code. The docker CLI then sees a terminal, as
 * for a person typing: raw mode, SIGWINCH, detach keys.
 */
import { spawn } from 'node:child_process';

const DRIVER = String.raw`
import os, pty, sys, time, select, fcntl, termios, struct, json
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(cfg['argv'][0], cfg['argv'], cfg['env'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', cfg['rows'], cfg['cols'], 0, 0))
out = b''
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                b = os.read(fd, 4096)
            except OSError:
                return False
            if not b:
                return False
            out += b
    return True
alive = pump(cfg['settle'])
for i in cfg['inputs']:
    if not alive:
        break
    os.write(fd, i.encode('latin1'))
    alive = pump(cfg['pause'])
end = time.time() + cfg['exitWait']
code = None
while time.time() < end:
    pump(0.1)
    p, status = os.waitpid(pid, os.WNOHANG)
    if p:
        code = os.waitstatus_to_exitcode(status)
        break
if code is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': out.decode('utf-8', 'replace'), 'code': code}))
`;

export interface PtyRun {
  /** everything the terminal showed */
  out: string;
  /** null when the command was still running after exitWaitMs (it is then killed) */
  code: number | null;
}

export interface PtyOptions {
  env: NodeJS.ProcessEnv;
  rows: number;
  cols: number;
  /** typed one after another */
  inputs: string[];
  /** wait before the first input (default 1500 ms) */
  settleMs?: number;
  /** wait after each input (default 700 ms) */
  pauseMs?: number;
  /** how long to wait for the exit after the last input (default 5000 ms) */
  exitWaitMs?: number;
}

export function runOnPty(argv: string[], o: PtyOptions): Promise<PtyRun> {
  const cfg = {
    argv, env: o.env, rows: o.rows, cols: o.cols, inputs: o.inputs,
    settle: (o.settleMs ?? 1500) / 1000, pause: (o.pauseMs ?? 700) / 1000, exitWait: (o.exitWaitMs ?? 5000) / 1000,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) { reject(new Error(`pty driver exited ${code}: ${stderr}`)); return; }
      resolve(JSON.parse(stdout) as PtyRun);
    });
  });
}

export const CTRL_P = '\x10';
export const CTRL_Q = '\x11';
