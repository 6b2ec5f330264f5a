// A local OpenID Provider for atiende's single sign-on tests: `oidc-provider`, a certified
// implementation, with its development sign-in page (any login, any password: the login is
// the account). Clients register themselves (dynamic registration), so each test names its own
// redirect URI. Started by scripts/test; prints "ready <issuer>" when it listens.
//
// Accounts: the login is the email. `noverificado…` logins have an unverified email; a
// `lider…` login belongs to the group `cap-lideres`, others to `cap-agentes`.
//
// For the refusal tests, `POST /test/next-id-token/<fault>?client_id=<id>` spoils the next ID
// token the token endpoint returns to that client (tests run in parallel, each with its own
// registered client): `audience` (another client's), `expired`, `issuer` (another issuer) — each
// signed with the provider's own key, so only the claim is wrong — or `tampered` (a claim
// changed after signing).
//
// It is also the OAuth 2.0 server of the test mailboxes: a mailbox's application registers
// itself like a sign-in client (with `grant_types` including `refresh_token`), an
// administrator consents with `offline_access` (a refresh token), and the test mail server
// (Dovecot's oauth2 passdb) asks the introspection endpoint, as the confidential client
// `dovecot`, whether an access token is active and whose it is (`sub`, the login). Tokens are
// revoked through the standard revocation endpoint (RFC 7009).
//
// `POST /test/forget-access-token?token=<t>` makes one access token inactive and leaves its
// grant alone.
//
// Usage: node provider.mjs <port>
import { generateKeyPair, exportJWK, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 9400);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'atiende-test', use: 'sig', alg: 'RS256' };

function claimsOf(login) {
  const email = login.includes('@') ? login : `${login}@udg.mx`;
  return {
    sub: login,
    email,
    email_verified: !login.startsWith('noverificado'),
    name: login.split('@')[0].replace(/[._]/g, ' '),
    groups: login.startsWith('lider') ? ['cap-lideres'] : ['cap-agentes'],
  };
}

const configuration = {
  jwks: { keys: [jwk] },
  cookies: { keys: ['atiende-test-cookie-key'] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  // The mail server, asking about the access tokens mailboxes present.
  clients: [
    {
      client_id: 'dovecot',
      client_secret: 'dovecot-introspection',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  pkce: { required: () => true },
  // Every refresh gives a new refresh token and spends the old one, as Microsoft's does: an
  // old one used again revokes the grant, so a client that refreshed twice at once would lose
  // it.
  rotateRefreshToken: () => true,
  findAccount: async (ctx, id) => ({
    accountId: id,
    async claims() {
      return claimsOf(id);
    },
  }),
  // The institution's own application: no consent screen, as a university's identity
  // provider is configured for its help desk.
  async loadExistingGrant(ctx) {
    const { client, session, result } = ctx.oidc;
    // A grant the person just consented to (a mailbox's offline access) is the one.
    if (result && result.consent && result.consent.grantId) {
      return ctx.oidc.provider.Grant.find(result.consent.grantId);
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid email profile groups');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
    await grant.save();
    return grant;
  },
  // Claims in the ID token itself, as Google and Entra ID put them there.
  conformIdTokenClaims: false,
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

const faults = new Map();
provider.use(async (ctx, next) => {
  // An access token made inactive early (as a provider does when it rotates its keys or the
  // account's password changes) while the grant and its refresh token stay good. Revoking it
  // through the revocation endpoint would revoke the whole grant.
  if (ctx.path === '/test/forget-access-token' && ctx.method === 'POST') {
    const token = await provider.AccessToken.find(String(ctx.query.token || ''));
    if (token) await token.destroy();
    ctx.status = token ? 204 : 404;
    return;
  }
  const wanted = ctx.path.match(/^\/test\/next-id-token\/(\w+)$/);
  if (wanted && ctx.method === 'POST') {
    faults.set(ctx.query.client_id, wanted[1]);
    ctx.status = 204;
    return;
  }
  await next();
  const client = ctx.oidc && ctx.oidc.client && ctx.oidc.client.clientId;
  const fault = client && faults.get(client);
  if (ctx.path === '/token' && fault && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await spoil(ctx.body.id_token, fault) };
    faults.delete(client);
  }
});

async function spoil(token, how) {
  const claims = decodeJwt(token);
  const header = decodeProtectedHeader(token);
  const now = Math.floor(Date.now() / 1000);
  const resign = (changed) => new SignJWT(changed).setProtectedHeader(header).sign(privateKey);
  switch (how) {
    case 'audience':
      return resign({ ...claims, aud: 'otra-aplicacion' });
    case 'expired':
      return resign({ ...claims, iat: now - 7200, exp: now - 3600 });
    case 'issuer':
      return resign({ ...claims, iss: 'http://127.0.0.1:1/otro' });
    case 'tampered': {
      const [h, , s] = token.split('.');
      const body = Buffer.from(JSON.stringify({ ...claims, email: 'admin@udg.mx' })).toString('base64url');
      return `${h}.${body}.${s}`;
    }
    default:
      return token;
  }
}

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
