/**
 * Debian's nginx and its echo module for the bench's nginx gateway (gateway-nginx.ts): where they are,
 * and installing them non-interactively when missing, as postfix.ts installs postfix.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const NGINX = '/usr/sbin/nginx';
export const ECHO_MODULE = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
/** Debian's packages for both (bookworm's nginx-light is these two; trixie has no nginx-light). */
const NGINX_PACKAGES = 'nginx libnginx-mod-http-echo';
/** Where the packaged daemon (/etc/nginx's config, port 80) keeps its pid when the package started it. */
const PACKAGED_DAEMON_PID = '/run/nginx.pid';

export const nginxInstalled = () => existsSync(NGINX) && existsSync(ECHO_MODULE);

/** Installs nginx and its echo module when missing and stops the daemon the package may have started; what went wrong, if anything. */
export function installNginx(): string | undefined {
  if (nginxInstalled()) return undefined;
  console.error(`bench: nginx or its echo module missing: installing Debian packages ${NGINX_PACKAGES} (apt-get, non-interactive)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = spawnSync('sh', ['-c', `apt-get update -q && apt-get install -y -q ${NGINX_PACKAGES}`], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (existsSync(PACKAGED_DAEMON_PID)) spawnSync(NGINX, ['-s', 'quit'], { stdio: 'ignore' });
  return install.status === 0 && nginxInstalled() ? undefined : `could not install ${NGINX_PACKAGES} (apt-get install -y ${NGINX_PACKAGES})`;
}
