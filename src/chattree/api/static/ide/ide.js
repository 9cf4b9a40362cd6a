// ChatTree's GraphiQL page: GraphiQL with the explorer, signed in by the token that a
// register, login or changePassword mutation returns. The token is kept in
// localStorage and sent as "Authorization: Bearer ..." on HTTP requests and in the
// websocket's connection_init payload, unless the headers tab sets Authorization itself.
"use strict";

(function () {
  const TOKEN_KEY = "chattree.token";
  const endpoint = window.location.origin + window.location.pathname;
  const websocketEndpoint = endpoint.replace(/^http/, "ws");

  const status = document.getElementById("account-status");
  const signOutButton = document.getElementById("sign-out");
  const bar = status.parentElement;

  let token = window.localStorage.getItem(TOKEN_KEY);

  function showSignedOut(reason) {
    bar.classList.remove("signed-in");
    signOutButton.hidden = true;
    status.textContent = "";
    if (reason) {
      status.append(reason + " ");
    }
    status.append("Not signed in: run a ");
    status.append(code("register"), " or ", code("login"), " mutation.");
  }

  function showSignedIn(username) {
    bar.classList.add("signed-in");
    signOutButton.hidden = false;
    status.textContent = "Signed in as ";
    const name = document.createElement("strong");
    name.id = "account-username";
    name.textContent = username;
    status.append(name);
  }

  function code(text) {
    const element = document.createElement("code");
    element.textContent = text;
    return element;
  }

  function signIn(newToken) {
    token = newToken;
    window.localStorage.setItem(TOKEN_KEY, token);
    status.textContent = "Signing in…";
    whoAmI();
  }

  function signOut(reason) {
    token = null;
    window.localStorage.removeItem(TOKEN_KEY);
    showSignedOut(reason);
  }

  // Shows whose token this is, and forgets a token the server no longer accepts.
  async function whoAmI() {
    const asked = token;
    let body;
    try {
      const response = await window.fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + asked },
        body: JSON.stringify({ query: "{ me { username } }" }),
      });
      body = await response.json();
    } catch (error) {
      status.textContent = "Cannot reach the server: " + error.message;
      return;
    }
    if (asked !== token) {
      return; // signed in or out again meanwhile
    }
    if (body.data && body.data.me) {
      showSignedIn(body.data.me.username);
    } else {
      signOut("The server refused the saved token (expired or revoked).");
    }
  }

  // Only AuthPayload (register, login, changePassword) has a token field, so any
  // top-level field holding one, aliased or not, is a sign-in.
  function tokenIn(data) {
    for (const value of Object.values(data)) {
      if (value && typeof value.token === "string") {
        return value.token;
      }
    }
    return null;
  }

  function refusedToken(body) {
    return (body.errors || []).some(function (error) {
      return error.extensions && error.extensions.code === "UNAUTHENTICATED";
    });
  }

  // What an answer means for the page's token: a new one, an account deleted, or
  // (after an UNAUTHENTICATED error) perhaps a token revoked elsewhere.
  function notice(body) {
    const data = (body && body.data) || {};
    const found = tokenIn(data);
    if (found) {
      signIn(found);
    } else if (data.deleteMe === true) {
      signOut("The account was deleted.");
    } else if (token && refusedToken(body)) {
      whoAmI();
    }
  }

  // fetch, watching JSON answers for what changes who is signed in.
  async function fetchNoticingTokens(input, init) {
    const response = await window.fetch(input, init);
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("application/json")) {
      response
        .clone()
        .json()
        .then(notice)
        .catch(function () {});
    }
    return response;
  }

  const graphiqlFetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: websocketEndpoint,
    fetch: fetchNoticingTokens,
  });

  // GraphiQL passes the headers tab as `headers`; for subscriptions they become the
  // connection_init payload, which is where ChatTree reads a websocket's token.
  function fetcher(params, options) {
    const headers = Object.assign({}, options && options.headers);
    const named = Object.keys(headers).some(function (name) {
      return name.toLowerCase() === "authorization";
    });
    if (token && !named) {
      headers.Authorization = "Bearer " + token;
    }
    return graphiqlFetcher(params, Object.assign({}, options, { headers: headers }));
  }

  const TABS = [
    {
      query: `# Welcome to ChatTree! Run the tabs in turn
# (Ctrl-Enter, or the ▶ button).
#
# 1. Sign in. Once register (or login) returns a
#    token, this page sends it with every request
#    ("Authorization: Bearer ..."), websockets too.
#    The bar above says who is signed in.
mutation Register {
  register(username: "ada", password: "a long passphrase") {
    token
    user { id username }
  }
}
`,
    },
    {
      query: `# 2. Start a conversation. The reply streams in
#    the background: put its assistantMessage id
#    into the variables of the next tab.
mutation Start {
  createConversation(content: "Why is the sky blue?") {
    conversation { id title model }
    assistantMessage { id status }
  }
}
`,
    },
    {
      query: `# 3. Watch the reply's tokens arrive over a
#    websocket. The first event carries all the
#    text so far; the last one has done: true.
subscription Watch($id: ID!) {
  messageStream(messageId: $id) { delta reasoningDelta status done error }
}
`,
      variables: '{ "id": "3" }',
    },
    {
      query: `# 4. Read the tree: here, the newest branch of
#    each conversation.
query Tree {
  conversations(first: 5) {
    edges {
      node {
        id
        title
        currentBranch { id role content siblingIndex siblingCount }
      }
    }
  }
}
`,
    },
  ];

  signOutButton.addEventListener("click", function () {
    signOut("Signed out.");
  });

  if (token) {
    status.textContent = "Checking the saved token…";
    whoAmI();
  } else {
    showSignedOut("");
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: TABS,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();
