"""
Drives berthd through the Docker SDK for Python (Debian's python3-docker), as an application would.
Run by test/compat/sdk-python.test.ts with DOCKER_HOST set; exits non-zero at the first check that fails.
"""
import io
import tarfile
import docker

c = docker.from_env(timeout=120)
checks = 0


def check(name, got, want):
    global checks
    checks += 1
    if got != want:
        raise SystemExit(f"{name}: got {got!r}, want {want!r}")


check('api version', c.version()['ApiVersion'], '1.47')
image = c.images.pull('busybox', tag='latest')
check('pull tags', image.tags, ['busybox:latest'])

# run() returns the output: the SDK reads logs only from the log drivers it knows
check('run output', c.containers.run('busybox', 'echo hello', remove=True), b'hello\n')
try:
    c.containers.run('busybox', 'sh -c "echo boom >&2; exit 3"', remove=True)
    raise SystemExit('run exit 3: no ContainerError')
except docker.errors.ContainerError as e:
    check('run exit status', e.exit_status, 3)
    check('run stderr', e.stderr, b'boom\n')

ct = c.containers.run('busybox', 'sleep 300', detach=True, name='sdk-box', labels={'sdk': 'yes'})
check('list by label', [x.name for x in c.containers.list(filters={'label': 'sdk=yes'})], ['sdk-box'])
ct.reload()
check('status', ct.status, 'running')
r = ct.exec_run('sh -c "echo hi; exit 4"')
check('exec_run', (r.exit_code, r.output), (4, b'hi\n'))
r = ct.exec_run('sh -c "echo o; echo e >&2"', demux=True)
check('exec_run demux', r.output, (b'o\n', b'e\n'))
check('exec_run stream', b''.join(ct.exec_run('echo streamed', stream=True).output), b'streamed\n')

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w') as t:
    data = b'put by the sdk\n'
    info = tarfile.TarInfo('sdk.txt')
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
check('put_archive', ct.put_archive('/tmp', buf.getvalue()), True)
check('exec reads it', ct.exec_run('cat /tmp/sdk.txt').output, b'put by the sdk\n')
stream, stat = ct.get_archive('/tmp/sdk.txt')
got = tarfile.open(fileobj=io.BytesIO(b''.join(stream))).extractfile('sdk.txt').read()
check('get_archive', (stat['name'], got), ('sdk.txt', b'put by the sdk\n'))
check('diff', {d['Path'] for d in ct.diff()} >= {'/tmp', '/tmp/sdk.txt'}, True)

ct.pause()
ct.reload()
check('paused', ct.status, 'paused')
ct.unpause()
ct.stop(timeout=1)
check('wait', ct.wait()['StatusCode'], 137)
check('logs after stop', ct.logs(), b'')
ct.remove(v=True)

vol = c.volumes.create('sdk-vol')
net = c.networks.create('sdk-net')
out = c.containers.run('busybox', 'sh -c "echo kept > /v/f; cat /v/f"', volumes={'sdk-vol': {'bind': '/v', 'mode': 'rw'}},
                       network='sdk-net', remove=True)
check('volume + network run', out, b'kept\n')

built, _ = c.images.build(fileobj=io.BytesIO(b'FROM busybox\nRUN echo built > /b\nCMD ["cat", "/b"]\n'), tag='sdk-built:1', rm=True)
check('build tag', built.tags, ['sdk-built:1'])
check('run built', c.containers.run('sdk-built:1', remove=True), b'built\n')

vol.remove()
net.remove()
c.images.remove('sdk-built:1')
print(f'{checks} checks passed')
