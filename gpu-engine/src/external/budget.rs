//! A bound on every kernel's running time: each invocation gets one budget of loop iterations,
//! shared by every loop it enters (in the entry point and in every function it calls), and a loop
//! whose next iteration finds the budget spent breaks. WGSL and SPIR-V have no recursion and no
//! `goto`, so loops are the only way back: with them bounded, every invocation ends after at
//! most (its code's length) × (budget + 1) steps, whatever it was written to do. The budget is
//! the same on every device, so a kernel that spends it gives the same (cut-short) bits
//! everywhere; a kernel written to end on its own never notices it.
//!
//! The pass works on naga's IR: a private `u32` (per invocation) starts at the budget, and the
//! first statements of every loop body are `if budget == 0 { break; } budget = budget - 1;`.
//! (`break` leaves the innermost loop or switch; at the start of a loop body that is the loop.)
//!
//! Two shapes are refused before the pass ([`check_shape`]): a kernel whose code, with every call
//! written out, passes [`MAX_EXPANDED_STATEMENTS`] (calls without loops nest: `f_n` calling
//! `f_{n-1}` twice is 2^n work in n lines), and, in the verifiable tier, a barrier inside a loop
//! (invocations may spend their budgets unevenly, and one that breaks out of a loop holding a
//! barrier leaves the others waiting at it: undefined behaviour, different on every driver).

use naga::{
    AddressSpace, Arena, BinaryOperator, Block, Expression, Function, GlobalVariable, Handle, Literal, Module, Scalar,
    Span, Statement, Type, TypeInner,
};

use crate::EngineError;

/// The most statements a kernel may run per loop iteration with every call written out.
pub const MAX_EXPANDED_STATEMENTS: u64 = 1 << 16;

/// What a block does, calls written out: its statements, and whether it waits at a barrier.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    statements: u64,
    barrier: bool,
}

/// Refuses what the loop budget cannot bound (see the module's notes); returns the work of one
/// pass of the entry point `entry` with every call written out: its statements, each expression
/// it evaluates (a composite counted by its scalars: copying an array is work per element) and
/// the zeroing of its variables (an invocation does at most this times (budget + 1)).
pub(super) fn check_shape(module: &Module, verifiable: bool, entry: &str) -> Result<u64, EngineError> {
    // A function calls only functions before it in the arena (naga allows no recursion), so one
    // pass in order knows every callee's shape.
    let mut shapes: Vec<Shape> = Vec::with_capacity(module.functions.len());
    let check = |function: &Function, shapes: &[Shape]| -> Result<Shape, EngineError> {
        let name = function.name.as_deref().unwrap_or("the entry point");
        let costs = Costs { module, function };
        let mut shape = shape_of(&function.body, shapes, verifiable, name, &costs)?;
        // Its variables are zeroed on every call.
        for (_, local) in function.local_variables.iter() {
            shape.statements = shape.statements.saturating_add(scalars(module, local.ty));
        }
        if shape.statements > MAX_EXPANDED_STATEMENTS {
            return Err(super::rejected(format!(
                "{name}: {} statements with every call written out; at most {MAX_EXPANDED_STATEMENTS}",
                shape.statements
            )));
        }
        Ok(shape)
    };
    for (_, function) in module.functions.iter() {
        let shape = check(function, &shapes)?;
        shapes.push(shape);
    }
    let mut statements = 0;
    for point in &module.entry_points {
        let shape = check(&point.function, &shapes)?;
        if point.name == entry {
            statements = shape.statements;
        }
    }
    Ok(statements)
}

/// The scalars a value of type `ty` holds (an array of a runtime size: one element).
fn scalars(module: &Module, ty: Handle<Type>) -> u64 {
    match &module.types[ty].inner {
        TypeInner::Vector { size, .. } => *size as u64,
        TypeInner::Matrix { columns, rows, .. } => *columns as u64 * *rows as u64,
        TypeInner::Array { base, size, .. } => {
            let n = match size {
                naga::ArraySize::Constant(n) => u64::from(n.get()),
                _ => 1,
            };
            n.saturating_mul(scalars(module, *base))
        }
        TypeInner::Struct { members, .. } => members.iter().fold(0u64, |s, m| s.saturating_add(scalars(module, m.ty))),
        _ => 1,
    }
}

/// What a function's expressions cost: one each, a composite by its scalars (by its type where
/// the expression names it: a load, a local, a composition).
struct Costs<'a> {
    module: &'a Module,
    function: &'a Function,
}

impl Costs<'_> {
    fn expression(&self, e: Handle<Expression>) -> u64 {
        let f = self.function;
        let ty = match &f.expressions[e] {
            Expression::Compose { ty, .. } | Expression::ZeroValue(ty) => Some(*ty),
            Expression::LocalVariable(v) => Some(f.local_variables[*v].ty),
            Expression::GlobalVariable(v) => Some(self.module.global_variables[*v].ty),
            Expression::Load { pointer } => self.pointee(*pointer),
            _ => None,
        };
        ty.map_or(1, |ty| scalars(self.module, ty).max(1))
    }

    /// The type a pointer expression points to, where it is a variable or a field or element of one.
    fn pointee(&self, pointer: Handle<Expression>) -> Option<Handle<Type>> {
        let f = self.function;
        match &f.expressions[pointer] {
            Expression::LocalVariable(v) => Some(f.local_variables[*v].ty),
            Expression::GlobalVariable(v) => Some(self.module.global_variables[*v].ty),
            Expression::Access { base, .. } | Expression::AccessIndex { base, .. } => {
                let base = self.pointee(*base)?;
                match &self.module.types[base].inner {
                    TypeInner::Array { base, .. } => Some(*base),
                    TypeInner::Struct { members, .. } => match &f.expressions[pointer] {
                        Expression::AccessIndex { index, .. } => members.get(*index as usize).map(|m| m.ty),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn shape_of(
    block: &Block,
    callees: &[Shape],
    verifiable: bool,
    name: &str,
    costs: &Costs,
) -> Result<Shape, EngineError> {
    let mut shape = Shape { statements: 0, barrier: false };
    let add = |inner: Shape, shape: &mut Shape| {
        shape.statements = shape.statements.saturating_add(inner.statements);
        shape.barrier |= inner.barrier;
    };
    for statement in block.iter() {
        shape.statements = shape.statements.saturating_add(1);
        match statement {
            Statement::Block(inner) => add(shape_of(inner, callees, verifiable, name, costs)?, &mut shape),
            Statement::If { accept, reject, .. } => {
                add(shape_of(accept, callees, verifiable, name, costs)?, &mut shape);
                add(shape_of(reject, callees, verifiable, name, costs)?, &mut shape);
            }
            Statement::Switch { cases, .. } => {
                for case in cases {
                    add(shape_of(&case.body, callees, verifiable, name, costs)?, &mut shape);
                }
            }
            Statement::Loop { body, continuing, .. } => {
                let mut inner = shape_of(body, callees, verifiable, name, costs)?;
                add(shape_of(continuing, callees, verifiable, name, costs)?, &mut inner);
                if verifiable && inner.barrier {
                    return Err(super::rejected(format!(
                        "{name}: a barrier inside a loop; the verifiable tier bounds every loop per invocation, \
                         and invocations that leave a loop at different iterations would wait at it forever"
                    )));
                }
                add(inner, &mut shape);
            }
            Statement::Call { function, .. } => {
                add(callees.get(function.index()).copied().unwrap_or_default(), &mut shape);
            }
            Statement::Emit(range) => {
                let work = range.clone().fold(0u64, |w, e| w.saturating_add(costs.expression(e)));
                shape.statements = shape.statements.saturating_add(work);
            }
            Statement::Store { value, .. } => {
                shape.statements = shape.statements.saturating_add(costs.expression(*value));
            }
            Statement::ControlBarrier(_) | Statement::WorkGroupUniformLoad { .. } => shape.barrier = true,
            _ => {}
        }
    }
    Ok(shape)
}

/// Bounds every loop of `module` by `budget` iterations per invocation; returns how many loops
/// it found.
pub(super) fn bound_loops(module: &mut Module, budget: u32) -> usize {
    let ty = module.types.insert(Type { name: None, inner: TypeInner::Scalar(Scalar::U32) }, Span::UNDEFINED);
    let init = module.global_expressions.append(Expression::Literal(Literal::U32(budget)), Span::UNDEFINED);
    let counter = module.global_variables.append(
        GlobalVariable {
            name: Some("gridmint_loop_budget".into()),
            space: AddressSpace::Private,
            binding: None,
            ty,
            init: Some(init),
            memory_decorations: Default::default(),
        },
        Span::UNDEFINED,
    );
    let mut loops = 0;
    for (_, function) in module.functions.iter_mut() {
        loops += bound_function(function, counter);
    }
    for entry in &mut module.entry_points {
        loops += bound_function(&mut entry.function, counter);
    }
    loops
}

fn bound_function(function: &mut Function, counter: Handle<GlobalVariable>) -> usize {
    let mut body = std::mem::take(&mut function.body);
    let loops = bound_block(&mut body, &mut function.expressions, counter);
    function.body = body;
    loops
}

fn bound_block(block: &mut Block, expressions: &mut Arena<Expression>, counter: Handle<GlobalVariable>) -> usize {
    let mut loops = 0;
    for statement in block.iter_mut() {
        match statement {
            Statement::Block(inner) => loops += bound_block(inner, expressions, counter),
            Statement::If { accept, reject, .. } => {
                loops += bound_block(accept, expressions, counter);
                loops += bound_block(reject, expressions, counter);
            }
            Statement::Switch { cases, .. } => {
                for case in cases.iter_mut() {
                    loops += bound_block(&mut case.body, expressions, counter);
                }
            }
            Statement::Loop { body, continuing, .. } => {
                loops += 1 + bound_block(body, expressions, counter) + bound_block(continuing, expressions, counter);
                let mut guarded = guard(expressions, counter);
                guarded.append(body);
                *body = guarded;
            }
            _ => {}
        }
    }
    loops
}

/// `if budget == 0 { break; } budget = budget - 1;`
fn guard(expressions: &mut Arena<Expression>, counter: Handle<GlobalVariable>) -> Block {
    let span = Span::UNDEFINED;
    // Literals and the variable's pointer need no `Emit`; the load and the arithmetic do.
    let zero = expressions.append(Expression::Literal(Literal::U32(0)), span);
    let one = expressions.append(Expression::Literal(Literal::U32(1)), span);
    let pointer = expressions.append(Expression::GlobalVariable(counter), span);
    let first = expressions.len();
    let left = expressions.append(Expression::Load { pointer }, span);
    let spent = expressions.append(Expression::Binary { op: BinaryOperator::Equal, left, right: zero }, span);
    let less = expressions.append(Expression::Binary { op: BinaryOperator::Subtract, left, right: one }, span);
    let emitted = expressions.range_from(first);
    let mut block = Block::with_capacity(3);
    block.push(Statement::Emit(emitted), span);
    block.push(
        Statement::If { condition: spent, accept: Block::from_vec(vec![Statement::Break]), reject: Block::new() },
        span,
    );
    block.push(Statement::Store { pointer, value: less }, span);
    block
}
