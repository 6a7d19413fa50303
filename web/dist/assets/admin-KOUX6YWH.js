import{b as j,c as r,d as m,e as T,f as k,i as w,j as B,k as L,l as R,n as P,o as f,p as M,t as W}from"./shared-4TSHU5PB.js";function D({series:t,label:a,seconds:o}){let d=Math.max(2,...t.map(n=>n.points.length));return r`<figure class="chart">
        <svg viewBox=${"0 0 600 140"} role="img" aria-label=${a} preserveAspectRatio="none">
            <line x1="0" y1=${134} x2=${600} y2=${134} class="axis" />
            <line x1="0" y1=${6} x2=${600} y2=${6} class="grid" vector-effect="non-scaling-stroke" />
            <line x1="0" y1=${140/2} x2=${600} y2=${140/2} class="grid" vector-effect="non-scaling-stroke" />
            ${t.map(n=>{let u=Math.max(1,...n.points),b=d-n.points.length,s=n.points.map((l,g)=>`${((g+b)/(d-1)*600).toFixed(1)},${(134-l/u*128).toFixed(1)}`).join(" ");return r`<polyline class=${`line ${n.className}`} points=${s} fill="none" vector-effect="non-scaling-stroke" />`})}
        </svg>
        <div class="chart-x muted" aria-hidden="true"><span>${Math.round(o/60)} min ago</span><span>each line's peak at the top, half of it in the middle</span><span>now</span></div>
        <figcaption>
            ${t.map(n=>r`<span class="legend"><span class=${`swatch ${n.className}`} aria-hidden="true"></span>${n.name}:
                    <strong>${F(n.points[n.points.length-1]??0)}</strong> <span class="muted">(peak ${F(Math.max(0,...n.points))})</span></span>`)}
        </figcaption>
    </figure>`}function F(t){return t>=100||Number.isInteger(t)?Math.round(t).toLocaleString():t.toFixed(1)}async function J(t,a,o){let i=await fetch(t,{headers:{Accept:"text/event-stream",Authorization:`Bearer ${B()?.token??""}`},signal:a});if(!i.ok||!i.body){let d="http_"+i.status,n=`Herald answered ${i.status}.`;try{let u=(await i.json()).error;d=u.code??d,n=u.message??n}catch{}throw new w(i.status,d,n)}let h=i.body.pipeThrough(new TextDecoderStream).getReader(),c="";for(;;){let{value:d,done:n}=await h.read();if(n)return;c+=d;let u;for(;(u=c.indexOf(`

`))>=0;){let b=c.slice(0,u);c=c.slice(u+2);let s=b.split(`
`).filter(l=>l.startsWith("data:")).map(l=>l.slice(5).replace(/^ /,"")).join(`
`);if(s)try{o(JSON.parse(s))}catch{}}}}var N=["connected","disconnected","invocation","send"],A=2e3;function U({hubs:t}){let[a,o]=m({hub:"",user:"",connection:"",types:[...N],payload:!1}),[i,h]=m(!1),[c,d]=m(!1),[n,u]=m([]),[b,s]=m(0),[l,g]=m(""),p=k([]),v=k(!1);v.current=c;let y=k(null);T(()=>()=>y.current?.abort(),[]);let H=()=>{y.current?.abort();let e=new AbortController;y.current=e;let $=new URLSearchParams;a.hub&&$.set("hub",a.hub),a.user.trim()&&$.set("user",a.user.trim()),a.connection.trim()&&$.set("connection",a.connection.trim()),a.types.length&&a.types.length<N.length&&$.set("type",a.types.join(",")),a.payload&&$.set("payload","true"),g(""),h(!0),J(`/api/admin/trace?${$}`,e.signal,S=>{let I=S;v.current?(p.current.push(I),p.current.length>A&&p.current.shift(),s(p.current.length)):u(G=>[...G,I].slice(-A))}).catch(S=>{S.name!=="AbortError"&&g(S.message)}).finally(()=>{y.current===e&&h(!1)})},O=()=>{y.current?.abort(),y.current=null,h(!1)},q=()=>{if(c){let e=p.current;p.current=[],s(0),u($=>[...$,...e].slice(-A))}d(!c)},Y=()=>P(new Blob([n.map(e=>JSON.stringify(e)).join(`
`)+`
`],{type:"application/x-ndjson"}),`herald-trace-${new Date().toISOString().replace(/[:.]/g,"-")}.jsonl`),E=(e,$)=>o({...a,[e]:$});return r`<section class="card trace" aria-labelledby="trace-title">
        <h2 id="trace-title">Live trace</h2>
        <p class="muted small">Connection and message events across the cluster as they happen. Tracing costs nothing while nobody watches. Payloads are left out unless asked.</p>
        <form class="trace-filters" onSubmit=${e=>{e.preventDefault(),H()}}>
            <div class="field">
                <label for="t-hub">Hub</label>
                <select id="t-hub" value=${a.hub} onChange=${e=>E("hub",e.target.value)}>
                    <option value="">Every hub</option>
                    ${t.map(e=>r`<option value=${e}>${e}</option>`)}
                </select>
            </div>
            <div class="field">
                <label for="t-user">User</label>
                <input id="t-user" value=${a.user} placeholder="Any user" onInput=${e=>E("user",e.target.value)} />
            </div>
            <div class="field">
                <label for="t-conn">Connection</label>
                <input id="t-conn" value=${a.connection} placeholder="Any connection" onInput=${e=>E("connection",e.target.value)} />
            </div>
            <fieldset class="types">
                <legend>Events</legend>
                ${N.map(e=>r`<label><input type="checkbox" checked=${a.types.includes(e)}
                        onChange=${$=>E("types",$.target.checked?[...a.types,e]:a.types.filter(S=>S!==e))} />${e}</label>`)}
            </fieldset>
            <div class="field check">
                <label><input type="checkbox" checked=${a.payload} onChange=${e=>E("payload",e.target.checked)} />Show payloads</label>
            </div>
            <div class="actions">
                <button class="primary" type="submit" data-testid="trace-start">${i?"Apply filters":"Start tracing"}</button>
                ${i&&r`<button type="button" class="secondary" onClick=${O}>Stop</button>`}
                <button type="button" class="secondary" onClick=${q} aria-pressed=${c} disabled=${!i&&!c}>${c?`Resume${b?` (${b} waiting)`:""}`:"Pause"}</button>
                <button type="button" class="secondary" onClick=${()=>u([])} disabled=${!n.length}>Clear</button>
                <button type="button" class="secondary" onClick=${Y} disabled=${!n.length}>Export JSON Lines</button>
                <span class="muted small" role="status">${i?c?"Paused":"Tracing\u2026":"Stopped"} · ${n.length} events</span>
            </div>
        </form>
        ${l&&r`<p class="error-text" role="alert">${l}</p>`}
        <div class="table-wrap">
            <table class="events" data-testid="trace-events">
                <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Hub</th><th scope="col">User</th><th scope="col">Connection</th><th scope="col">Detail</th></tr></thead>
                <tbody>
                    ${n.length===0&&r`<tr><td colspan="6" class="muted">${i?"Waiting for events\u2026":"Start tracing to see events."}</td></tr>`}
                    ${n.slice(-300).reverse().map((e,$)=>r`<tr key=${n.length-$} data-type=${e.type} data-testid="trace-event">
                        <td><time datetime=${e.time}>${e.time?.slice(11,23)}</time></td>
                        <td><span class=${`ev ev-${e.type}`}>${e.type}</span></td>
                        <td>${e.hub}</td>
                        <td>${e.user??(e.scope==="user"?e.to:"")}</td>
                        <td class="mono">${e.connection}</td>
                        <td>${K(e)}</td>
                    </tr>`)}
                </tbody>
            </table>
        </div>
    </section>`}function K(t){switch(t.type){case"connected":return[t.transport,t.protocol,t.node&&`node ${t.node.slice(0,8)}`].filter(Boolean).join(" \xB7 ");case"disconnected":return[t.reason||"closed",t.transport].filter(Boolean).join(" \xB7 ");case"invocation":return[t.target,t.size!==void 0&&`${t.size} B`,t.payload!==void 0&&JSON.stringify(t.payload)].filter(Boolean).join(" \xB7 ");case"send":return[t.target,t.scope&&`to ${t.scope}${t.to?` ${t.to}`:""}`,t.size!==void 0&&`${t.size} B`,t.payload!==void 0&&JSON.stringify(t.payload)].filter(Boolean).join(" \xB7 ");case"dropped":return`${t.count??"some"} events dropped (the trace could not keep up)`;default:return""}}var z=2e3,C=150;function _(){let{session:t,config:a,message:o,signedIn:i,signOut:h}=R();return t?t.roles.includes("admin")?r`<${Q} session=${t} onSignOut=${h} />`:r`<main id="main" class="login"><div class="card login-card">
            <h1>Operators only</h1>
            <p>This page is for operators: ${t.user} does not have the <code>admin</code> role.</p>
            <p class="actions"><a class="button secondary" href="/">Go to your tasks</a><button type="button" class="secondary" onClick=${h}>Sign in as someone else</button></p>
        </div></main>`:r`<${W} admin config=${a} message=${o} onSignedIn=${i} />`}function Q({session:t,onSignOut:a}){let[o,i]=m(null),[h,c]=m(""),d=k({connections:[],sends:[],running:[]});T(()=>{let s=!1,l,g=async()=>{try{let p=await L("/api/admin/stats");if(s)return;let v=d.current,y=Object.values(p.hubs).reduce((H,O)=>H+O.connections,0);v.connections=[...v.connections,y].slice(-C),v.sends=[...v.sends,p.sends.perSecond].slice(-C),v.running=[...v.running,p.tasks.running??0].slice(-C),i(p),c("")}catch(p){s||c(p instanceof w?p.message:String(p))}s||(l=setTimeout(g,z))};return g(),()=>{s=!0,clearTimeout(l)}},[]);let n=o?Object.keys(o.hubs).sort():[],u=o?Object.values(o.hubs).reduce((s,l)=>s+l.connections,0):0,b=d.current;return r`
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
            <span class="brand"><span class="logo" aria-hidden="true"></span><span class="brand-name">Herald · </span>Operators</span>
            <span class="spacer"></span>
            <a href="/">Your tasks</a>
            <span class="user" data-testid="user">${t.user}</span>
            <button type="button" class="link-button" onClick=${a}>Sign out<span class="sr-only"> ${t.user}</span></button>
        </header>
        <main id="main" class="content wide">
            ${h&&r`<p class="error-text" role="alert">${h}</p>`}
            <section aria-label="Live counts" class="tiles" data-testid="counts">
                <${x} label="Connections" value=${f(u)} testid="connections" />
                <${x} label="Users online" value=${f(o?.usersOnline??0)} testid="users-online" />
                <${x} label="Tasks running" value=${f(o?.tasks.running??0)} sub=${`${f(o?.tasks.queued??0)} queued`} testid="running" />
                <${x} label="Sends per second" value=${(o?.sends.perSecond??0).toFixed(1)} sub=${`${f(o?.sends.total??0)} in all`} testid="sends" />
                <${x} label="Nodes" value=${f(o?.nodes.length??0)} testid="nodes" />
            </section>
            <section class="card" aria-labelledby="chart-title">
                <h2 id="chart-title">The last minutes</h2>
                <${D} label="Connections, sends per second and running tasks over the last minutes" seconds=${C*z/1e3}
                    series=${[{name:"Connections",className:"s1",points:b.connections},{name:"Sends/s",className:"s2",points:b.sends},{name:"Running tasks",className:"s3",points:b.running}]} />
            </section>
            <div class="two-col">
                <section class="card" aria-labelledby="nodes-title">
                    <h2 id="nodes-title">Connections per hub and node</h2>
                    <div class="table-wrap"><table>
                        <thead><tr><th scope="col">Node</th>${n.map(s=>r`<th scope="col" class="num">${s}</th>`)}</tr></thead>
                        <tbody>
                            ${o?.nodes.map(s=>r`<tr><td class="mono">${s.id.slice(0,12)}</td>${n.map(l=>r`<td class="num">${f(s.connections[l]??0)}</td>`)}</tr>`)}
                            <tr class="total"><th scope="row">All</th>${n.map(s=>r`<td class="num">${f(o.hubs[s].connections)} <span class="muted small">(${f(o.hubs[s].users)} ${o.hubs[s].users===1?"user":"users"})</span></td>`)}</tr>
                        </tbody>
                    </table></div>
                </section>
                <section class="card" aria-labelledby="tasks-title">
                    <h2 id="tasks-title">Tasks by state</h2>
                    <dl class="states">
                        ${["queued","running","succeeded","failed","cancelled"].map(s=>r`<div><dt>${s}</dt><dd>${f(o?.tasks[s]??0)}</dd></div>`)}
                    </dl>
                </section>
            </div>
            <section class="card" aria-labelledby="exports-title">
                <h2 id="exports-title">Exports running</h2>
                ${o?.exports.length?r`<div class="table-wrap"><table>
                          <thead><tr><th scope="col">User</th><th scope="col">Dataset</th><th scope="col">Format</th><th scope="col" class="num">Rows</th><th scope="col" class="num">Written</th><th scope="col" class="num">Rows/s</th><th scope="col" class="num">Throughput</th></tr></thead>
                          <tbody>${o.exports.map(s=>r`<tr key=${s.id}>
                              <td>${s.user}</td><td>${s.dataset}</td><td>${s.format}</td><td class="num">${f(s.rows)}</td><td class="num">${M(s.bytes)}</td>
                              <td class="num">${f(Math.round(s.rowsPerSecond))}</td><td class="num">${M(s.bytesPerSecond)}/s</td></tr>`)}</tbody>
                      </table></div>`:r`<p class="muted">None right now.</p>`}
            </section>
            <${V} />
            <${U} hubs=${n.length?n:["notifications"]} />
        </main>
    `}function x({label:t,value:a,sub:o,testid:i}){return r`<div class="tile card" data-testid=${i}><span class="muted small">${t}</span><strong>${a}</strong>${o&&r`<span class="muted small">${o}</span>`}</div>`}function V(){let[t,a]=m(""),[o,i]=m("info"),[h,c]=m(""),[d,n]=m(""),[u,b]=m(!1);return r`<section class="card" aria-labelledby="broadcast-title">
        <h2 id="broadcast-title">Announce</h2>
        <form class="broadcast" onSubmit=${async l=>{l.preventDefault(),b(!0),n(""),c("");try{await L("/api/admin/announcements",{body:{message:t.trim(),level:o}}),c("Sent to every open page."),a("")}catch(g){n(g instanceof w?g.message:String(g))}finally{b(!1)}}} novalidate>
            <div class="field grow">
                <label for="b-message">Message to every open page</label>
                <input id="b-message" value=${t} maxlength="4096" placeholder="Maintenance at 18:00 UTC" aria-invalid=${!!d} aria-describedby=${d?"b-error":void 0}
                    onInput=${l=>a(l.target.value)} />
            </div>
            <div class="field">
                <label for="b-level">Level</label>
                <select id="b-level" value=${o} onChange=${l=>i(l.target.value)}>
                    <option value="info">Info</option>
                    <option value="warning">Warning</option>
                </select>
            </div>
            <button class="primary" type="submit" disabled=${u||!t.trim()}>Send</button>
        </form>
        ${d&&r`<p class="field-error" id="b-error" role="alert">${d}</p>`}
        <p class="muted small" role="status">${h}</p>
    </section>`}j(r`<${_} />`,document.getElementById("root"));
