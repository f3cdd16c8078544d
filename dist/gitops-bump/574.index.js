export const id = 574;
export const ids = [574];
export const modules = {

/***/ 8574:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   REFRESH_ANNOTATION: () => (/* binding */ REFRESH_ANNOTATION),
/* harmony export */   describe: () => (/* binding */ describe),
/* harmony export */   evaluate: () => (/* binding */ evaluate),
/* harmony export */   loadKubeConfig: () => (/* binding */ loadKubeConfig),
/* harmony export */   requestRefresh: () => (/* binding */ requestRefresh),
/* harmony export */   waitForSync: () => (/* binding */ waitForSync)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(8179);
/* harmony import */ var _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(2901);
/* harmony import */ var _shared_errors_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(9223);
/**
 * Waits for ArgoCD to deploy a commit: lists the Application, then watches it from that
 * resourceVersion (re-listing when the watch ends or the version is too old, 410 Gone) until
 * `status.sync.revision` is the commit with sync `Synced` and health `Healthy`. A `Degraded`
 * health or a `Failed`/`Error` operation on that commit fails at once with ArgoCD's message.
 */




const GROUP = 'argoproj.io';
const VERSION = 'v1alpha1';
const PLURAL = 'applications';
const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
function loadKubeConfig(value) {
    const kc = new _kubernetes_client_node__WEBPACK_IMPORTED_MODULE_2__/* .KubeConfig */ .ypW();
    if (value === undefined) {
        kc.loadFromDefault();
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
function describe(app) {
    if (!app)
        return 'no Application seen';
    const s = app.status ?? {};
    const parts = [
        `sync ${s.sync?.status ?? 'Unknown'}`,
        `revision ${(s.sync?.revision ?? s.sync?.revisions?.join(',') ?? 'none').slice(0, 12)}`,
        `health ${s.health?.status ?? 'Unknown'}`,
    ];
    if (s.operationState?.phase) {
        parts.push(`operation ${s.operationState.phase}${s.operationState.message ? `: ${s.operationState.message}` : ''}`);
    }
    return parts.join(', ');
}
/**
 * `accepted` is the pushed commit plus any later commit known to contain it: when another run
 * pushes right after us, ArgoCD may go straight to that commit, which deploys ours too.
 */
function evaluate(app, accepted) {
    const s = app.status ?? {};
    const onRevision = includes(s.sync?.revision, s.sync?.revisions, accepted);
    const op = s.operationState;
    // The last operation may be an older one (a failed sync of the previous commit): only an
    // operation on our commit counts.
    const opOnRevision = includes(op?.syncResult?.revision, op?.syncResult?.revisions, accepted) ||
        includes(op?.operation?.sync?.revision, op?.operation?.sync?.revisions, accepted);
    if (op && (op.phase === 'Failed' || op.phase === 'Error') && opOnRevision) {
        return {
            done: true,
            ok: false,
            reason: `ArgoCD sync operation ${op.phase}: ${op.message ?? 'no message'}`,
        };
    }
    // Health is of the live objects: it speaks for our commit once that commit is what is synced.
    if (onRevision && s.sync?.status === 'Synced' && s.health?.status === 'Degraded') {
        const detail = s.health.message ??
            op?.message ??
            s.conditions?.map((c) => `${c.type}: ${c.message}`).join('; ') ??
            'no message';
        return { done: true, ok: false, reason: `Application is Degraded: ${detail}` };
    }
    if (onRevision && s.sync?.status === 'Synced' && s.health?.status === 'Healthy')
        return { done: true, ok: true };
    return { done: false };
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
    const accepted = new Set([revision]);
    const checks = new Map();
    const judge = async (app) => {
        const verdict = evaluate(app, accepted);
        const seen = app.status?.sync?.revision;
        if (verdict.done || !options.contains || !seen || accepted.has(seen) || !/^[0-9a-f]{40}$/.test(seen)) {
            return verdict;
        }
        if (!checks.has(seen))
            checks.set(seen, options.contains(seen).catch(() => false));
        if (!(await checks.get(seen)))
            return verdict;
        _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .info */ .pq(`${where} is at ${seen.slice(0, 12)}, a later commit that contains ${revision.slice(0, 12)}.`);
        accepted.add(seen);
        return evaluate(app, accepted);
    };
    const result = (ok, reason) => ({
        ok,
        reason,
        last: describe(last),
        elapsedMs: Date.now() - started,
    });
    while (Date.now() < deadline) {
        let list;
        try {
            list = (await api.listNamespacedCustomObject({
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
        const app = list.items?.[0];
        if (!app)
            throw new Error(`${where} not found`);
        last = app;
        const verdict = await judge(app);
        if (verdict.done)
            return result(verdict.ok, verdict.ok ? '' : verdict.reason);
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
        if (outcome.verdict?.done) {
            return result(outcome.verdict.ok, outcome.verdict.ok ? '' : outcome.verdict.reason);
        }
        if (outcome.deleted)
            throw new Error(`${where} was deleted while waiting`);
        // The watch ended (server timeout, 410 Gone, dropped connection): list again and resume.
        if (outcome.error)
            _actions_core__WEBPACK_IMPORTED_MODULE_1__/* .debug */ .Yz(`watch ended: ${outcome.error}`);
        if (Date.now() < deadline)
            await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
    return result(false, `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${where} to be Synced and Healthy at ${revision.slice(0, 12)}`);
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
