// The Director's REST calls: JSON in and out, the control token, and errors that carry the status (I/O).

const TOKEN_KEY = 'streamer.token';
const BUSY_RETRIES = 4;

/** The control token: from #token= or ?token= once (then kept in this browser, as the preview does), else saved. */
export function takeToken() {
  const params = new URLSearchParams(location.search);
  const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
  const token = hashToken ?? params.get('token') ?? localStorage.getItem(TOKEN_KEY) ?? '';
  if (hashToken !== null || params.has('token')) {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    params.delete('token');
    const query = params.toString();
    history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
  }
  return token;
}

export function saveToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.code = String(status);
  }
}

export class Api {
  constructor(token = '') {
    this.token = token;
  }

  headers(extra = {}) {
    return { ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /** fetch with the token; JSON bodies are sent as JSON. Returns {json, res}; throws ApiError on 4xx/5xx. */
  async call(method, url, { body, form, headers = {} } = {}) {
    const init = { method, cache: 'no-store', headers: this.headers(headers) };
    if (form) init.body = form;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(url, init);
      } catch (err) {
        throw new ApiError(0, `the server did not answer (${err.message})`);
      }
      // Busy (a few heavy requests at a time per server): wait as told and ask again.
      if (res.status !== 429 || attempt >= BUSY_RETRIES) break;
      const waitS = Math.min(Number(res.headers.get('Retry-After')) || 1, 5);
      await new Promise((r) => setTimeout(r, waitS * 1000 * (0.75 + Math.random() / 2)));
    }
    const json = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const hint = res.status === 401 ? ' (set the control token under ⚙)' : '';
      throw new ApiError(res.status, `${json?.error ?? `HTTP ${res.status}`}${hint}`);
    }
    return { json, res };
  }

  async get(url) {
    return (await this.call('GET', url)).json;
  }

  async post(url, body) {
    return (await this.call('POST', url, { body })).json;
  }
}
