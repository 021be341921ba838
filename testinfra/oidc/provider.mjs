// A real OpenID provider for Modelport's tests: the certified `oidc-provider` package with a
// plain login form, auto-granted consent, a `groups` claim, and a small admin API on the same port
// so tests can change accounts, clients and signing keys while it runs.
//
//   node provider.mjs <port>
//
// Admin API (loopback only, JSON):
//   PUT  /admin/accounts   {"<sub>": {"username", "password", "email", "groups": [...]}, ...}
//   PUT  /admin/clients    [{"client_id", "client_secret", "redirect_uris": [...]}, ...]
//   POST /admin/rotate     {"keep_previous": true|false}  -> {"kids": [...]} (signing key first)
//   POST /admin/id-token   {"sub", "client_id", "expires_in"}  -> {"id_token"}
//
// Signing keys and clients are fixed when a Provider is built, so changing them builds a new one
// and swaps it in; grants, sessions and refresh tokens live in the memory adapter, which all
// instances share, so nothing a test holds is lost across a swap.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const cookieKeys = [randomBytes(32).toString('hex')];
const SCOPES = 'openid profile email groups offline_access';

let accounts = {};
let clients = [];
let keys = [newKey()];
let provider = build();

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

function accountByUsername(username) {
  return Object.entries(accounts).find(([, account]) => account.username === username);
}

async function findAccount(_ctx, sub) {
  const account = accounts[sub];
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: account.email,
        email_verified: true,
        preferred_username: account.username,
        name: account.username,
        groups: account.groups ?? [],
      };
    },
  };
}

function build() {
  const configuration = {
    clients: clients.map((client) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      post_logout_redirect_uris: client.redirect_uris.map((uri) => new URL(uri).origin + '/'),
      ...client,
    })),
    jwks: { keys },
    cookies: { keys: cookieKeys },
    scopes: SCOPES.split(' '),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    findAccount,
    // Groups go into the ID token itself, as DEX puts them, not only into userinfo.
    conformIdTokenClaims: false,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    ttl: { IdToken: 300, AccessToken: 300, RefreshToken: 3600, Session: 3600, Grant: 3600 },
  };
  const instance = new Provider(issuer, configuration);
  instance.on('server_error', (_ctx, error) => console.error('server_error', error));
  return instance;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function loginPage(uid, error) {
  return `<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Sign in to the test provider</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Username <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form></body></html>`;
}

async function grantConsent(req, res, details) {
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'consent') return grantConsent(req, res, details);
  if (action !== 'login') return send(res, 200, loginPage(uid), 'text/html');
  const form = await readForm(req);
  const found = accountByUsername(form.get('username'));
  if (!found || found[1].password !== form.get('password')) {
    return send(res, 200, loginPage(uid, 'Wrong username or password.'), 'text/html');
  }
  return provider.interactionFinished(req, res, { login: { accountId: found[0] } }, { mergeWithLastSubmission: false });
}

async function mintIdToken({ sub, client_id: clientId, expires_in: expiresIn }) {
  const client = await provider.Client.find(clientId);
  const account = await findAccount(null, sub);
  if (!client || !account) return null;
  const token = new provider.IdToken(await account.claims(), { client });
  token.scope = SCOPES;
  const now = Math.floor(Date.now() / 1000);
  return token.issue({ use: 'idtoken', expiresAt: expiresIn === undefined ? null : now + expiresIn });
}

async function admin(req, res, path) {
  const body = await readJson(req);
  if (req.method === 'PUT' && path === '/admin/accounts') {
    accounts = body;
    return send(res, 200, { accounts: Object.keys(accounts) });
  }
  if (req.method === 'PUT' && path === '/admin/clients') {
    clients = body;
    provider = build();
    return send(res, 200, { clients: clients.map((client) => client.client_id) });
  }
  if (req.method === 'POST' && path === '/admin/rotate') {
    keys = body.keep_previous ? [newKey(), keys[0]] : [newKey()];
    provider = build();
    return send(res, 200, { kids: keys.map((key) => key.kid) });
  }
  if (req.method === 'POST' && path === '/admin/id-token') {
    const idToken = await mintIdToken(body);
    if (!idToken) return send(res, 404, { error: 'unknown client or account' });
    return send(res, 200, { id_token: idToken });
  }
  return send(res, 404, { error: 'unknown admin route' });
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    if (path.startsWith('/admin/')) return await admin(req, res, path);
    const match = path.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    return provider.callback()(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) send(res, 500, { error: String(error) });
  }
});

server.listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
