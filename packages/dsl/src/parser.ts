/**
 * The seg parser: one reused Chevrotain parser with error recovery that builds the AST directly
 * (embedded actions). It never throws on user input; problems are collected as diagnostics.
 *
 * Rules are never wrapped in try/catch: Chevrotain's re-sync recovery depends on its own
 * exceptions travelling up the rule stack.
 */
import type { IToken, TokenType } from "chevrotain";
import { EmbeddedActionsParser, EOF } from "./chevrotain.js";
import type * as A from "./ast.js";
import { diagnostic, type Diagnostic } from "./diagnostics.js";
import { decodeQuoted, isValidDate, isValidTimestamp, parseNumber, splitDuration } from "./literals.js";
import { START, type Position, type Span } from "./span.js";
import * as T from "./tokens.js";
import { syntaxErrorMessages } from "./syntax-errors.js";

const COMPARE_OPS: Record<string, A.BinaryOperator> = { "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

/** The Chevrotain parser for `.seg` files. Use {@link parse} rather than this class. */
export class SegParser extends EmbeddedActionsParser {
  /** Diagnostics found by actions (bad literals, chained comparisons) during the current parse. */
  actionDiagnostics: Diagnostic[] = [];

  constructor() {
    super(T.ALL_TOKENS, {
      recoveryEnabled: true,
      maxLookahead: 2,
      errorMessageProvider: syntaxErrorMessages,
    });
    this.performSelfAnalysis();
  }

  // --- positions ------------------------------------------------------------------------------

  private static real(tok: IToken | undefined): tok is IToken {
    return tok !== undefined && tok.tokenType !== EOF && Number.isFinite(tok.startOffset) && Number.isFinite(tok.startLine);
  }

  /** The end of the last consumed token (the start of the text if none). */
  private prevEnd(): Position {
    const t = this.LA(0);
    if (!SegParser.real(t)) return START;
    return { offset: t.endOffset! + 1, line: t.endLine!, column: t.endColumn! + 1 };
  }

  /** The start of the next token, or the end of the previous one at the end of input. */
  private nextStart(): Position {
    const t = this.LA(1);
    if (!SegParser.real(t)) return this.prevEnd();
    return { offset: t.startOffset, line: t.startLine!, column: t.startColumn! };
  }

  /** The span of one token; recovered tokens (NaN positions) fall back to the previous token. */
  private tokSpan(tok: IToken): Span {
    if (!SegParser.real(tok)) {
      const p = this.prevEnd();
      return { start: p, end: p };
    }
    return {
      start: { offset: tok.startOffset, line: tok.startLine!, column: tok.startColumn! },
      end: { offset: tok.endOffset! + 1, line: tok.endLine!, column: tok.endColumn! + 1 },
    };
  }

  private from(start: Position): Span {
    const end = this.prevEnd();
    return { start, end: end.offset >= start.offset ? end : start };
  }

  /** A zero-width span just after the last consumed token. */
  private hereSpan(): Span {
    const p = this.prevEnd();
    return { start: p, end: p };
  }

  private errorNode = (): A.ErrorNode => ({ kind: "Error", span: this.hereSpan() });

  // --- public helpers for the driver ----------------------------------------------------------

  /** The next token's type. */
  peekType(): TokenType {
    return this.LA(1).tokenType;
  }
  /** The next token. */
  peek(): IToken {
    return this.LA(1);
  }
  /** Skips one token. */
  skip(): void {
    this.SKIP_TOKEN();
  }

  // --- declarations ---------------------------------------------------------------------------

  /** file := declaration* */
  file = this.RULE("file", (): A.Declaration[] => {
    const decls: A.Declaration[] = [];
    this.MANY(() => {
      const d = this.OR([
        { ALT: () => this.SUBRULE(this.segmentDecl) },
        { ALT: () => this.SUBRULE(this.constDecl) },
      ]);
      this.ACTION(() => d && decls.push(d));
    });
    return decls;
  });

  private segmentDecl = this.RULE(
    "segmentDecl",
    (): A.SegmentDecl => {
      const start = this.nextStart();
      this.CONSUME(T.Segment);
      const name = this.SUBRULE(this.name);
      let title: A.StringLiteral | null = null;
      this.OPTION(() => {
        title = this.SUBRULE(this.string);
      });
      this.CONSUME(T.LCurly);
      const items: A.SegmentItem[] = [];
      this.MANY(() => {
        const item = this.SUBRULE(this.segmentItem);
        this.ACTION(() => item && items.push(item));
      });
      this.CONSUME(T.RCurly);
      return { kind: "Segment", name, title, items, span: this.from(start) };
    },
  );

  private constDecl = this.RULE("constDecl", (): A.ConstDecl => {
    const start = this.nextStart();
    this.CONSUME(T.Const);
    const name = this.SUBRULE(this.name);
    this.CONSUME(T.Equals);
    const expr = this.SUBRULE(this.expr);
    return { kind: "Const", name, expr, span: this.from(start) };
  });

  private segmentItem = this.RULE("segmentItem", (): A.SegmentItem => {
    const start = this.nextStart();
    return this.OR<A.SegmentItem>([
      {
        ALT: () => {
          const kw = this.OR2([{ ALT: () => this.CONSUME(T.Description) }, { ALT: () => this.CONSUME(T.Owner) }]);
          const value = this.SUBRULE(this.string);
          const kind = kw.tokenType === T.Owner ? "Owner" : "Description";
          return { kind, value, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Tags);
          this.CONSUME(T.LBracket);
          const tags: A.StringLiteral[] = [];
          this.OPTION(() => {
            const first = this.SUBRULE2(this.string);
            this.ACTION(() => tags.push(first));
            this.MANY({
              GATE: () => this.LA(2).tokenType !== T.RBracket,
              DEF: () => {
                this.CONSUME(T.Comma);
                const next = this.SUBRULE3(this.string);
                this.ACTION(() => tags.push(next));
              },
            });
            this.OPTION2(() => this.CONSUME2(T.Comma));
          });
          this.CONSUME(T.RBracket);
          return { kind: "Tags", tags, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Entity);
          const entity = this.SUBRULE(this.name);
          let key: A.Name | null = null;
          this.OPTION3(() => {
            this.CONSUME(T.Key);
            key = this.SUBRULE2(this.name);
          });
          return { kind: "Entity", entity, key, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Refresh);
          this.CONSUME(T.Every);
          const every = this.SUBRULE(this.duration);
          return { kind: "Refresh", every, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Ttl);
          const duration = this.SUBRULE2(this.duration);
          return { kind: "Ttl", duration, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Metric);
          const name = this.SUBRULE3(this.name);
          this.CONSUME(T.Equals);
          const expr = this.SUBRULE(this.expr);
          return { kind: "Metric", name, expr, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Where);
          const condition = this.SUBRULE2(this.expr);
          return { kind: "Where", condition, span: this.from(start) };
        },
      },
    ]);
  });

  // --- expressions ----------------------------------------------------------------------------

  /** expr := or */
  expr = this.RULE("expr", (): A.Expr => this.SUBRULE(this.orExpr), { recoveryValueFunc: this.errorNode });

  private orExpr = this.RULE(
    "orExpr",
    (): A.Expr => {
      let left = this.SUBRULE(this.andExpr);
      this.MANY(() => {
        this.CONSUME(T.Or);
        const right = this.SUBRULE2(this.andExpr);
        left = this.ACTION(() => binary("or", left, right));
      });
      return left;
    },
    { recoveryValueFunc: this.errorNode },
  );

  private andExpr = this.RULE(
    "andExpr",
    (): A.Expr => {
      let left = this.SUBRULE(this.notExpr);
      this.MANY(() => {
        this.CONSUME(T.And);
        const right = this.SUBRULE2(this.notExpr);
        left = this.ACTION(() => binary("and", left, right));
      });
      return left;
    },
    { recoveryValueFunc: this.errorNode },
  );

  private notExpr = this.RULE(
    "notExpr",
    (): A.Expr =>
      this.OR([
        {
          ALT: () => {
            const start = this.nextStart();
            this.CONSUME(T.Not);
            const operand = this.SUBRULE(this.notExpr);
            return { kind: "Unary", op: "not", operand, span: this.from(start) } as A.Expr;
          },
        },
        { ALT: () => this.SUBRULE(this.predicate) },
      ]),
    { recoveryValueFunc: this.errorNode },
  );

  /** True when the next tokens are `between DURATION and DURATION ago` (a window, not a range). */
  private agoWindowAhead(at: number): boolean {
    return (
      this.LA(at).tokenType === T.Between &&
      this.LA(at + 1).tokenType === T.DurationToken &&
      this.LA(at + 2).tokenType === T.And &&
      this.LA(at + 3).tokenType === T.DurationToken &&
      this.LA(at + 4).tokenType === T.Ago
    );
  }

  private predicate = this.RULE(
    "predicate",
    (): A.Expr => {
      const start = this.nextStart();
      const operand = this.SUBRULE(this.additive);
      let result: A.Expr = operand;
      this.OPTION(() => {
        result = this.OR({
          IGNORE_AMBIGUITIES: true,
          DEF: [
            {
              ALT: () => {
                const op = this.CONSUME(T.CompareOp);
                const right = this.SUBRULE2(this.additive);
                return this.ACTION(() => binary(COMPARE_OPS[op.image] ?? "=", operand, right));
              },
            },
            {
              GATE: () => this.agoWindowAhead(1),
              ALT: () => this.SUBRULE(this.agoWindow),
            },
            {
              ALT: () => this.SUBRULE(this.lastWindow),
            },
            { ALT: () => this.SUBRULE(this.inList) },
            { ALT: () => this.SUBRULE(this.betweenRange) },
            {
              ALT: () => {
                this.CONSUME(T.Is);
                let negated = false;
                this.OPTION2(() => {
                  this.CONSUME(T.Not);
                  negated = true;
                });
                this.CONSUME(T.Null);
                return { kind: "IsNull", negated, operand, span: this.from(start) } as A.IsNull;
              },
            },
            { ALT: () => this.SUBRULE(this.stringTest) },
            {
              ALT: () => {
                this.CONSUME2(T.Not);
                const inner = this.OR2({
                  IGNORE_AMBIGUITIES: true,
                  DEF: [
                    { GATE: () => this.agoWindowAhead(1), ALT: () => this.SUBRULE2(this.agoWindow) },
                    { ALT: () => this.SUBRULE2(this.lastWindow) },
                    { ALT: () => this.SUBRULE2(this.inList) },
                    { ALT: () => this.SUBRULE2(this.betweenRange) },
                    { ALT: () => this.SUBRULE2(this.stringTest) },
                  ],
                });
                return { kind: "Negated", inner } as unknown as A.Expr;
              },
            },
          ],
        }) as A.Expr;
      });
      // A second comparison (`a < b < c`) is a common slip: report it and keep going.
      this.OPTION3(() => {
        const op = this.CONSUME2(T.CompareOp);
        this.SUBRULE3(this.additive);
        this.ACTION(() => this.actionDiagnostics.push(diagnostic("chainedComparison", this.tokSpan(op))));
      });
      return this.ACTION(() => finishPredicate(result, operand, start, this.prevEnd()));
    },
    { recoveryValueFunc: this.errorNode },
  );

  /** The tail `in [..]` of a predicate; the operand is filled in by `finishPredicate`. */
  private inList = this.RULE("inList", (): Partial<A.InList> => {
    this.CONSUME(T.In);
    const list = this.SUBRULE(this.list);
    return { kind: "InList", list };
  });

  private betweenRange = this.RULE("betweenRange", (): Partial<A.Between> => {
    this.CONSUME(T.Between);
    const low = this.SUBRULE(this.additive);
    this.CONSUME(T.And);
    const high = this.SUBRULE2(this.additive);
    return { kind: "Between", low, high };
  });

  private stringTest = this.RULE("stringTest", (): Partial<A.StringTest> => {
    const op = this.OR<A.StringOperator>([
      { ALT: () => (this.CONSUME(T.Contains), "contains") },
      { ALT: () => (this.CONSUME(T.Starts), this.CONSUME(T.With), "starts with") },
      { ALT: () => (this.CONSUME(T.Ends), this.CONSUME2(T.With), "ends with") },
      { ALT: () => (this.CONSUME(T.Matches), "matches") },
    ]);
    const pattern = this.SUBRULE(this.additive);
    return { kind: "StringTest", op, pattern };
  });

  private additive = this.RULE(
    "additive",
    (): A.Expr => {
      let left = this.SUBRULE(this.multiplicative);
      this.MANY(() => {
        const op = this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
        const right = this.SUBRULE2(this.multiplicative);
        left = this.ACTION(() => binary(op.image === "+" ? "+" : "-", left, right));
      });
      return left;
    },
    { recoveryValueFunc: this.errorNode },
  );

  private multiplicative = this.RULE(
    "multiplicative",
    (): A.Expr => {
      let left = this.SUBRULE(this.unary);
      this.MANY(() => {
        const op = this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
        const right = this.SUBRULE2(this.unary);
        left = this.ACTION(() => binary(op.image === "*" ? "*" : "/", left, right));
      });
      return left;
    },
    { recoveryValueFunc: this.errorNode },
  );

  private unary = this.RULE(
    "unary",
    (): A.Expr =>
      this.OR([
        {
          ALT: () => {
            const start = this.nextStart();
            this.CONSUME(T.Minus);
            const operand = this.SUBRULE(this.unary);
            return { kind: "Unary", op: "-", operand, span: this.from(start) } as A.Expr;
          },
        },
        { ALT: () => this.SUBRULE(this.primary) },
      ]),
    { recoveryValueFunc: this.errorNode },
  );

  private primary = this.RULE(
    "primary",
    (): A.Expr =>
      this.OR<A.Expr>([
        {
          ALT: () => {
            const tok = this.CONSUME(T.NumberToken);
            return this.ACTION(() => this.numberLiteral(tok));
          },
        },
        { ALT: () => this.SUBRULE(this.string) },
        { ALT: () => ({ kind: "Boolean", value: true, span: this.tokSpan(this.CONSUME(T.True)) }) },
        { ALT: () => ({ kind: "Boolean", value: false, span: this.tokSpan(this.CONSUME(T.False)) }) },
        { ALT: () => ({ kind: "Null", span: this.tokSpan(this.CONSUME(T.Null)) }) },
        { ALT: () => ({ kind: "AsOf", span: this.tokSpan(this.CONSUME(T.AsOf)) }) },
        {
          ALT: () => {
            const tok = this.CONSUME(T.DateToken);
            return this.ACTION(() => this.dateLiteral(tok, "Date"));
          },
        },
        {
          ALT: () => {
            const tok = this.CONSUME(T.TimestampToken);
            return this.ACTION(() => this.dateLiteral(tok, "Timestamp"));
          },
        },
        { ALT: () => this.SUBRULE(this.duration) },
        { ALT: () => this.SUBRULE(this.list) },
        {
          ALT: () => {
            const start = this.nextStart();
            this.CONSUME(T.LParen);
            const expr = this.SUBRULE(this.expr);
            this.CONSUME(T.RParen);
            return { kind: "Paren", expr, span: this.from(start) };
          },
        },
        {
          ALT: () => {
            const start = this.nextStart();
            this.CONSUME(T.In);
            const name = this.SUBRULE(this.name);
            return { kind: "SegmentRef", name, span: this.from(start) };
          },
        },
        { ALT: () => this.SUBRULE(this.aggregate) },
        { ALT: () => this.SUBRULE(this.nameExpr) },
      ]),
    { recoveryValueFunc: this.errorNode },
  );

  private aggregate = this.RULE("aggregate", (): A.Aggregate | A.ErrorNode => {
    const start = this.nextStart();
    const fnTok = this.CONSUME(T.AggregateKw);
    this.CONSUME(T.LParen);
    const source = this.SUBRULE(this.path);
    let window: A.Window | null = null;
    this.OPTION(() => {
      window = this.SUBRULE(this.window);
    });
    let filter: A.Expr | null = null;
    this.OPTION2(() => {
      this.CONSUME(T.Where);
      filter = this.SUBRULE(this.expr);
    });
    this.CONSUME(T.RParen);
    return this.ACTION(() => ({
      kind: "Aggregate",
      fn: fnTok.image as A.AggregateFunction,
      fnSpan: this.tokSpan(fnTok),
      source,
      window: window ?? null,
      filter: filter ?? null,
      span: this.from(start),
    }));
  }, { recoveryValueFunc: this.errorNode });

  /** A name, then either call arguments (`lower(x)`) or more path parts (`customer.country`). */
  private nameExpr = this.RULE("nameExpr", (): A.Expr => {
    const start = this.nextStart();
    const first = this.SUBRULE(this.name);
    return this.OR<A.Expr>([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          const args: A.Expr[] = [];
          this.OPTION(() => {
            const arg = this.SUBRULE(this.expr);
            this.ACTION(() => args.push(arg));
            this.MANY(() => {
              this.CONSUME(T.Comma);
              const next = this.SUBRULE2(this.expr);
              this.ACTION(() => args.push(next));
            });
          });
          this.CONSUME(T.RParen);
          return { kind: "Call", callee: first, args, span: this.from(start) };
        },
      },
      {
        ALT: () => {
          const parts: A.Name[] = [first];
          this.MANY2(() => {
            this.CONSUME(T.Dot);
            const tok = this.CONSUME(T.AnyName);
            this.ACTION(() => parts.push(this.nameFromToken(tok)));
          });
          return { kind: "Path", parts, span: this.from(start) };
        },
      },
    ]);
  }, { recoveryValueFunc: this.errorNode });

  private list = this.RULE("list", (): A.ListLiteral => {
    const start = this.nextStart();
    this.CONSUME(T.LBracket);
    const items: A.Expr[] = [];
    this.OPTION(() => {
      const first = this.SUBRULE(this.expr);
      this.ACTION(() => items.push(first));
      this.MANY({
        GATE: () => this.LA(2).tokenType !== T.RBracket,
        DEF: () => {
          this.CONSUME(T.Comma);
          const next = this.SUBRULE2(this.expr);
          this.ACTION(() => items.push(next));
        },
      });
      this.OPTION2(() => this.CONSUME2(T.Comma));
    });
    this.CONSUME(T.RBracket);
    return { kind: "List", items, span: this.from(start) };
  }, { recoveryValueFunc: (): A.ListLiteral => ({ kind: "List", items: [], span: this.hereSpan() }) });

  private path = this.RULE("path", (): A.Path => {
    const start = this.nextStart();
    const first = this.SUBRULE(this.name);
    const parts: A.Name[] = [first];
    this.MANY(() => {
      this.CONSUME(T.Dot);
      const tok = this.CONSUME(T.AnyName);
      this.ACTION(() => parts.push(this.nameFromToken(tok)));
    });
    return { kind: "Path", parts, span: this.from(start) };
  }, { recoveryValueFunc: (): A.Path => ({ kind: "Path", parts: [], span: this.hereSpan() }) });

  // --- windows --------------------------------------------------------------------------------

  private window = this.RULE("window", (): A.Window =>
    this.OR<A.Window>([
      { ALT: () => this.SUBRULE(this.lastWindow) },
      { ALT: () => this.SUBRULE(this.agoWindow) },
      { ALT: () => ({ kind: "EverWindow", span: this.tokSpan(this.CONSUME(T.Ever)) }) },
    ]),
  );

  private lastWindow = this.RULE("lastWindow", (): A.LastWindow => {
    const start = this.nextStart();
    this.CONSUME(T.In);
    this.OPTION(() => this.CONSUME(T.The));
    this.CONSUME(T.Last);
    const duration = this.SUBRULE(this.duration);
    return { kind: "LastWindow", duration, span: this.from(start) };
  });

  private agoWindow = this.RULE("agoWindow", (): A.AgoWindow => {
    const start = this.nextStart();
    this.CONSUME(T.Between);
    const from = this.SUBRULE(this.duration);
    this.CONSUME(T.And);
    const to = this.SUBRULE2(this.duration);
    this.CONSUME(T.Ago);
    return { kind: "AgoWindow", from, to, span: this.from(start) };
  });

  // --- leaves ---------------------------------------------------------------------------------

  private name = this.RULE(
    "name",
    (): A.Name => {
      const tok = this.CONSUME(T.Name);
      return this.ACTION(() => this.nameFromToken(tok));
    },
    { recoveryValueFunc: (): A.Name => ({ kind: "Name", text: "", quoted: false, span: this.hereSpan() }) },
  );

  private string = this.RULE("string", (): A.StringLiteral => {
    const tok = this.CONSUME(T.StringLiteral);
    return this.ACTION(() => {
      const span = this.tokSpan(tok);
      if (tok.tokenType === T.UnterminatedString) {
        this.actionDiagnostics.push(diagnostic("unterminatedString", span));
      }
      const decoded = decodeQuoted(tok.image, '"');
      this.reportEscapes(decoded.problems, span);
      return { kind: "String", value: decoded.value, span } as A.StringLiteral;
    });
  }, { recoveryValueFunc: (): A.StringLiteral => ({ kind: "String", value: "", span: this.hereSpan() }) });

  private duration = this.RULE("duration", (): A.DurationLiteral => {
    const tok = this.CONSUME(T.DurationToken);
    return this.ACTION(() => {
      const span = this.tokSpan(tok);
      const { raw, unit } = splitDuration(tok.image);
      const amount = parseNumber(raw);
      if (!Number.isFinite(amount)) this.actionDiagnostics.push(diagnostic("invalidNumber", span, [raw]));
      return { kind: "Duration", amount: Number.isFinite(amount) ? amount : 0, unit, raw, span };
    });
  }, { recoveryValueFunc: (): A.DurationLiteral => ({ kind: "Duration", amount: 0, unit: "day", raw: "0", span: this.hereSpan() }) });

  private nameFromToken(tok: IToken): A.Name {
    const span = this.tokSpan(tok);
    if (tok.tokenType === T.QuotedName || tok.tokenType === T.UnterminatedQuotedName) {
      if (tok.tokenType === T.UnterminatedQuotedName) {
        this.actionDiagnostics.push(diagnostic("unterminatedIdentifier", span));
      }
      const decoded = decodeQuoted(tok.image, "`");
      this.reportEscapes(decoded.problems, span);
      return { kind: "Name", text: decoded.value, quoted: true, span };
    }
    return { kind: "Name", text: tok.image, quoted: false, span };
  }

  private numberLiteral(tok: IToken): A.NumberLiteral {
    const span = this.tokSpan(tok);
    const value = parseNumber(tok.image);
    if (!Number.isFinite(value)) this.actionDiagnostics.push(diagnostic("invalidNumber", span, [tok.image]));
    return { kind: "Number", value: Number.isFinite(value) ? value : 0, raw: tok.image, span };
  }

  private dateLiteral(tok: IToken, kind: "Date" | "Timestamp"): A.DateLiteral | A.TimestampLiteral {
    const span = this.tokSpan(tok);
    const ok = kind === "Date" ? isValidDate(tok.image) : isValidTimestamp(tok.image);
    if (!ok) this.actionDiagnostics.push(diagnostic("invalidDate", span, [tok.image]));
    return { kind, value: tok.image, span };
  }

  private reportEscapes(problems: { offset: number; length: number; text: string }[], span: Span): void {
    for (const p of problems) {
      const start = { ...span.start, offset: span.start.offset + p.offset, column: span.start.column + p.offset };
      const end = { ...start, offset: start.offset + p.length, column: start.column + p.length };
      this.actionDiagnostics.push(diagnostic("invalidEscape", { start, end }, [p.text]));
    }
  }
}

function binary(op: A.BinaryOperator, l: A.Expr | undefined, r: A.Expr | undefined): A.Binary {
  const left = l ?? r ?? missing();
  const right = r ?? missing(left.span.end);
  return { kind: "Binary", op, left, right, span: { start: left.span.start, end: right.span.end } };
}

function missing(at: Position = START): A.ErrorNode {
  return { kind: "Error", span: { start: at, end: at } };
}

/** Completes a predicate tail (`in [..]`, `between`, a window...) with its operand and span. */
function finishPredicate(result: unknown, operand: A.Expr, start: Position, end: Position): A.Expr {
  const span: Span = { start, end: end.offset >= start.offset ? end : start };
  const r = result as { kind: string } | undefined;
  if (r === undefined || r === (operand as unknown)) return operand;
  switch (r.kind) {
    case "InList": {
      const t = r as A.InList;
      return { kind: "InList", negated: false, operand, list: t.list, span };
    }
    case "Between": {
      const t = r as A.Between;
      return { kind: "Between", negated: false, operand, low: t.low, high: t.high, span };
    }
    case "StringTest": {
      const t = r as A.StringTest;
      return { kind: "StringTest", op: t.op, negated: false, operand, pattern: t.pattern, span };
    }
    case "LastWindow":
    case "AgoWindow":
      return { kind: "WindowTest", negated: false, operand, window: r as A.Window, span };
    case "Negated": {
      const inner = finishPredicate((r as unknown as { inner: unknown }).inner, operand, start, end);
      return "negated" in inner ? { ...inner, negated: true } : inner;
    }
    default:
      return r as A.Expr;
  }
}
