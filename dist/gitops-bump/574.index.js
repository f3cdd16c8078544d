export const id = 574;
export const ids = [574];
export const modules = {

/***/ 88574:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   REFRESH_ANNOTATION: () => (/* binding */ REFRESH_ANNOTATION),
/* harmony export */   describe: () => (/* binding */ describe),
/* harmony export */   evaluate: () => (/* binding */ evaluate),
/* harmony export */   explain: () => (/* binding */ explain),
/* harmony export */   loadKubeConfig: () => (/* binding */ loadKubeConfig),
/* harmony export */   requestRefresh: () => (/* binding */ requestRefresh),
/* harmony export */   syncedRevisions: () => (/* binding */ syncedRevisions),
/* harmony export */   waitForSync: () => (/* binding */ waitForSync)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(88179);
/* harmony import */ var _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(12901);
/* harmony import */ var _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(79223);
/**
 * Waits for ArgoCD to deploy a commit: lists the Application, then watches it from that
 * resourceVersion (re-listing when the watch ends or the version is too old, 410 Gone) until
 * `status.sync.revision` is the commit with sync `Synced`, health `Healthy` and either a sync
 * operation on that commit `Succeeded` or, for a commit that changes nothing ArgoCD renders, no
 * operation at all in a status reconciled since the wait began. A `Degraded` health or a
 * `Failed`/`Error` operation on that commit fails at once with ArgoCD's message.
 */




const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'applications';
const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
/** What @kubernetes/client-node loads when it finds no kubeconfig at all: a plain-HTTP localhost:8080. */
const isClientFallback = (kc) => kc.getCurrentCluster()?.name === 'cluster' &&
    kc.getCurrentCluster()?.server === 'http://localhost:8080' &&
    kc.getCurrentUser()?.name === 'user';
function loadKubeConfig(value) {
    const kc = new _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .KubeConfig */ .ypW();
    if (value === undefined) {
        kc.loadFromDefault();
        // Without this check the user meets "HTTP protocol is not allowed when skipTLSVerify is not
        // set" from a cluster nobody configured.
        if (isClientFallback(kc)) {
            throw new _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d('kubeconfig', 'a kubeconfig path or content (or KUBECONFIG, ~/.kube/config, or in-cluster credentials) when wait-for-sync is true', 'no kubeconfig given');
        }
    }
    else if (value.includes('\n') || /^\s*(apiVersion|kind|clusters)\s*:/.test(value)) {
        // Inline content: mask the credentials it carries before anything can print them.
        for (const m of value.matchAll(/^\s*(?:token|client-key-data|client-certificate-data|password)\s*:\s*(\S+)/gm)) {
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .setSecret */ .Pq(m[1].replace(/^["']|["']$/g, ''));
        }
        try {
            kc.loadFromString(value);
        }
        catch (err) {
            throw new _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d('kubeconfig', 'a kubeconfig file path or its YAML content', err.message);
        }
    }
    else if ((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.existsSync)(value)) {
        kc.loadFromFile(value);
    }
    else {
        throw new _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d('kubeconfig', 'a kubeconfig file path or its YAML content', value);
    }
    if (!kc.getCurrentCluster())
        throw new _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d('kubeconfig', 'a current context with a cluster', value ?? '(default)');
    return kc;
}
/** Whether the revision(s) named match one of the accepted commits. */
const includes = (one, many, accepted) => (one !== undefined && accepted.has(one)) || (many ?? []).some((r) => accepted.has(r));
/** The revision ArgoCD compared: `revision`, or for a multi-source Application `revisions` (no `revision`). */
const syncedRevisions = (app) => {
    const sync = app.status?.sync;
    return sync?.revision ? [sync.revision] : (sync?.revisions ?? []);
};
/** The revision(s) the last operation synced: its result's, or while it runs, the requested ones. */
const operationRevisions = (app) => {
    const op = app.status?.operationState;
    for (const r of [op?.syncResult, op?.operation?.sync]) {
        if (r?.revision)
            return [r.revision];
        if (r?.revisions?.length)
            return r.revisions;
    }
    return [];
};
function describe(app) {
    if (!app)
        return 'no Application seen';
    const s = app.status ?? {};
    const parts = [
        `sync ${s.sync?.status ?? 'Unknown'}`,
        `revision ${syncedRevisions(app)
            .map((r) => r.slice(0, 12))
            .join(',') || 'none'}`,
        `health ${s.health?.status ?? 'Unknown'}`,
    ];
    const op = s.operationState;
    if (op?.phase) {
        // The operation's own revision, when it is not the compared one: an older sync still shown.
        const opRevs = operationRevisions(app);
        const other = opRevs.length && opRevs.join() !== syncedRevisions(app).join();
        parts.push(`operation ${op.phase}${other ? ` on ${opRevs.map((r) => r.slice(0, 12)).join(',')}` : ''}${op.message ? `: ${op.message}` : ''}`);
    }
    else {
        parts.push('no sync operation');
    }
    // A sync requested (by auto-sync or a person) that has not started: the status will move.
    if (app.operation && op?.phase !== 'Running' && op?.phase !== 'Terminating')
        parts.push('sync requested');
    return parts.join(', ');
}
const named = (r) => `${r.kind ?? 'resource'}/${r.namespace ? `${r.namespace}/` : ''}${r.name ?? '?'}`;
/**
 * Why the Application is not healthy, in ArgoCD's words. ArgoCD 3 no longer fills
 * `health.message` (deprecated), so the resources' own health, the failed hooks, the operation's
 * message and the conditions carry it.
 */
function explain(app) {
    const s = app.status ?? {};
    const out = [];
    if (s.health?.message)
        out.push(s.health.message);
    for (const r of s.resources ?? []) {
        const h = r.health?.status;
        if (h && h !== 'Healthy' && (h !== 'Progressing' || r.health?.message))
            out.push(`${named(r)} is ${h}${r.health?.message ? `: ${r.health.message}` : ''}`);
    }
    for (const r of s.operationState?.syncResult?.resources ?? []) {
        const failed = r.hookPhase === 'Failed' || r.hookPhase === 'Error' || r.status === 'SyncFailed';
        if (failed)
            out.push(`${named(r)}${r.hookType ? ` (${r.hookType} hook)` : ''}: ${r.message || r.hookPhase || r.status}`);
    }
    if (s.operationState?.message)
        out.push(s.operationState.message);
    for (const c of s.conditions ?? [])
        out.push(`${c.type}: ${c.message}`);
    return out.length ? [...new Set(out)].join('; ') : 'no message';
}
/** Condition types ArgoCD sets when it cannot render or compare the Application's source. */
const COMPARISON_ERRORS = new Set(['ComparisonError', 'InvalidSpecError']);
const NOTHING_TO_SYNC = 'ArgoCD found nothing to sync: the commit renders what is already live, so no sync operation ran.';
/**
 * A commit that does not change what the Application renders (another app's path in a monorepo,
 * an edit rendering the same manifests) gets no operation: ArgoCD compares it, finds it Synced,
 * and auto-sync skips it ("Skipping auto-sync: application status is Synced", appcontroller.go).
 * Synced and Healthy on our commit is then the end, but only with no operation requested
 * (`operation`: a sync of ours queued, not yet in `operationState`) and from a comparison made
 * since the wait began: only a full comparison with the latest commit moves `reconciledAt`, so an
 * older status never passes.
 * Called once the status is Synced on our commit with no operation running.
 */
const nothingToSync = (app, seen) => seen.fresh === true && !app.operation;
/**
 * `accepted` is the pushed commit plus any later commit known to contain it: when another run
 * pushes right after us, ArgoCD may go straight to that commit, which deploys ours too.
 * `seen` says whether the status comes from a reconciliation ArgoCD made after the wait began.
 */
function evaluate(app, accepted, seen = {}) {
    const { reconciled = false } = seen;
    const s = app.status ?? {};
    const revisions = syncedRevisions(app);
    const onRevision = includes(undefined, revisions, accepted);
    const op = s.operationState;
    const fail = (reason) => ({ done: true, ok: false, reason });
    // The last operation may be an older one (a failed sync of the previous commit): only an
    // operation on our commit counts.
    const opOnRevision = includes(op?.syncResult?.revision, op?.syncResult?.revisions, accepted) ||
        includes(op?.operation?.sync?.revision, op?.operation?.sync?.revisions, accepted);
    if (op && (op.phase === 'Failed' || op.phase === 'Error') && opOnRevision)
        return fail(`ArgoCD sync operation ${op.phase}: ${explain(app)}`);
    // Rendering our commit failed (a kustomize or Helm error): no retry of ArgoCD's makes it pass.
    // ArgoCD may keep showing the previous revision (or none) when it cannot render the new one.
    // A ComparisonError can also be a passing repo-server hiccup, so one on another revision
    // counts only once ArgoCD has reconciled again since we began: the error then outlived our
    // push and a refresh, and waiting for the next 3-minute poll would only repeat it.
    const comparison = (s.conditions ?? []).filter((c) => COMPARISON_ERRORS.has(c.type ?? ''));
    if (s.sync?.status === 'Unknown' &&
        comparison.length &&
        (onRevision || revisions.length === 0 || reconciled))
        return fail(`ArgoCD cannot compare the Application: ${explain(app)}`);
    // An operation still running (PostSync hooks run after the resources are Synced and Healthy)
    // is not done: only its end says whether the deployment passed.
    const running = op?.phase === 'Running' || op?.phase === 'Terminating';
    if (!onRevision || s.sync?.status !== 'Synced' || running)
        return { done: false };
    // Health is of the live objects: it speaks for our commit once that commit is what is synced.
    switch (s.health?.status) {
        case 'Healthy':
            // Done when a sync of our commit ran to its end (its hooks included).
            if (opOnRevision && op?.phase === 'Succeeded')
                return { done: true, ok: true };
            return nothingToSync(app, seen) ? { done: true, ok: true, note: NOTHING_TO_SYNC } : { done: false };
        case 'Degraded':
            return fail(`Application is Degraded: ${explain(app)}`);
        case 'Suspended':
            // A paused rollout or suspended job waits for a person, not for time.
            return fail(`Application is Suspended (waiting for a manual step such as a rollout promotion): ${explain(app)}`);
        case 'Missing':
            return fail(`Application is Missing its resources after the sync: ${explain(app)}`);
        default:
            // Progressing (or Unknown health): rollouts take time; the timeout bounds it.
            return { done: false };
    }
}
async function requestRefresh(api, namespace, name) {
    await api.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { metadata: { annotations: { [REFRESH_ANNOTATION]: 'normal' } } },
    }, (0,_kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .setHeaderOptions */ .OkF)('Content-Type', _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .PatchStrategy */ .Qve.MergePatch));
}
function apiError(err, what) {
    const e = err;
    const code = e.code ?? e.statusCode;
    let message = e.message ?? String(err);
    try {
        const body = typeof e.body === 'string'
            ? JSON.parse(e.body)
            : e.body;
        if (body?.message)
            message = body.message;
    }
    catch {
        // not JSON: keep the client's message
    }
    return new Error(`${what} failed${code ? ` (HTTP ${code})` : ''}: ${message}`);
}
/**
 * Judges each Application seen. A revision we do not know may be a later commit that contains
 * ours (another run pushed right after us): asked once per revision through `contains`.
 */
function makeJudge(options, where, startedMs) {
    const { revision } = options;
    // reconciledAt has second precision: a comparison in the second the wait began counts.
    const startSecond = Math.floor(startedMs / 1000) * 1000;
    const accepted = new Set([revision]);
    const checks = new Map();
    let firstReconciledAt;
    let seen = false;
    return async (app) => {
        // ArgoCD drops the refresh annotation right after the patch that writes the refreshed
        // status; without a refresh, a new `reconciledAt` (second precision) says it looked again.
        const at = app.status?.reconciledAt;
        if (!seen)
            [seen, firstReconciledAt] = [true, at];
        const seenNow = {
            reconciled: (options.refresh && app.metadata?.annotations?.[REFRESH_ANNOTATION] === undefined) ||
                (at !== undefined && at !== firstReconciledAt),
            fresh: at !== undefined && Date.parse(at) >= startSecond,
        };
        const verdict = evaluate(app, accepted, seenNow);
        // A multi-source Application lists one revision per source: any of them may be the GitOps repo's.
        const unknown = syncedRevisions(app).filter((r) => !accepted.has(r) && /^[0-9a-f]{40}$/.test(r));
        if (verdict.done || !options.contains || unknown.length === 0)
            return verdict;
        let found = false;
        for (const seen of unknown) {
            if (!checks.has(seen))
                checks.set(seen, options.contains(seen).catch(() => false));
            if (!(await checks.get(seen)))
                continue;
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(`${where} is at ${seen.slice(0, 12)}, a later commit that contains ${revision.slice(0, 12)}.`);
            accepted.add(seen);
            found = true;
        }
        return found ? evaluate(app, accepted, seenNow) : verdict;
    };
}
async function listApp(api, namespace, name, where) {
    try {
        return (await api.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
            fieldSelector: `metadata.name=${name}`,
        }));
    }
    catch (err) {
        throw apiError(err, `listing ${where}`);
    }
}
async function waitForSync(options) {
    const { kc, namespace, name, revision, timeoutMs } = options;
    const api = kc.makeApiClient(_kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .CustomObjectsApi */ .aVm);
    const started = Date.now();
    const deadline = started + timeoutMs;
    const where = `Application ${namespace}/${name}`;
    let last;
    if (options.refresh) {
        try {
            await requestRefresh(api, namespace, name);
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(`Requested a refresh of ${where}.`);
        }
        catch (err) {
            throw apiError(err, `refreshing ${where}`);
        }
    }
    const judge = makeJudge(options, where, started);
    const result = (verdict) => {
        if (verdict.ok && verdict.note)
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(verdict.note);
        return {
            ok: verdict.ok,
            reason: verdict.ok ? '' : verdict.reason,
            last: describe(last),
            elapsedMs: Date.now() - started,
        };
    };
    while (Date.now() < deadline) {
        const list = await listApp(api, namespace, name, where);
        const app = list.items?.[0];
        if (!app)
            throw new Error(`${where} not found`);
        last = app;
        const verdict = await judge(app);
        if (verdict.done)
            return result(verdict);
        _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(`${where}: ${describe(app)}; waiting for ${revision.slice(0, 12)}.`);
        const outcome = await watchOnce(kc, {
            namespace,
            name,
            resourceVersion: list.metadata?.resourceVersion,
            untilMs: deadline - Date.now(),
            onApp: async (a) => {
                last = a;
                const v = await judge(a);
                if (!v.done)
                    _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(`${where}: ${describe(a)}`);
                return v;
            },
        });
        if (outcome.verdict?.done)
            return result(outcome.verdict);
        if (outcome.deleted)
            throw new Error(`${where} was deleted while waiting`);
        // The watch ended (server timeout, 410 Gone, dropped connection): list again and resume.
        if (outcome.error)
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .debug */ .Yz(`watch ended: ${outcome.error}`);
        if (Date.now() < deadline)
            await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
    return result({
        done: true,
        ok: false,
        reason: `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${where} to be Synced and Healthy at ${revision.slice(0, 12)}`,
    });
}
function watchOnce(kc, opts) {
    return new Promise((resolve) => {
        let settled = false;
        let controller;
        const finish = (outcome) => {
            if (settled)
                return;
            settled = true;
            clearTimeout(timer);
            controller?.abort();
            resolve(outcome);
        };
        const timer = setTimeout(() => finish({ error: 'deadline' }), Math.max(0, opts.untilMs));
        new _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .Watch */ .ox1(kc)
            .watch(`/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(opts.namespace)}/${PLURAL}`, {
            fieldSelector: `metadata.name=${opts.name}`,
            resourceVersion: opts.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: Math.max(1, Math.min(300, Math.ceil(opts.untilMs / 1000))),
        }, (type, object) => {
            if (type === 'ERROR') {
                const status = object;
                return finish({ error: `${status.code ?? ''} ${status.message ?? ''}`.trim() });
            }
            if (type === 'BOOKMARK')
                return;
            if (type === 'DELETED')
                return finish({ deleted: true });
            void opts.onApp(object).then((verdict) => {
                if (verdict.done)
                    finish({ verdict });
            });
        }, (err) => finish({ error: err ? String(err.message ?? err) : 'closed' }))
            .then((c) => {
            controller = c;
            if (settled)
                c.abort();
        })
            .catch((err) => finish({ error: String(err.message ?? err) }));
    });
}


/***/ })

};
