//! `stack` (two operands) and `concat` (any number): values against ndarray's
//! `concatenate`, gradients against finite differences, and the shape panics.

use crate::*;
use ndarray::{concatenate, Array2, Axis};

/// `concat` of a slice, against ndarray, for several counts, shapes and both axes.
#[test]
fn concat_values_match_ndarray() {
    for (axis, shapes) in [
        (0, vec![(1, 1)]),
        (0, vec![(1, 3), (2, 3), (4, 3)]),
        (1, vec![(2, 1), (2, 3), (2, 0), (2, 2)]),
        (1, vec![(1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]),
    ] {
        let values: Vec<Array2<f32>> = shapes.iter().map(|&(r, c)| random_matrix(r, c)).collect();
        let inputs: Vec<_> = values.iter().map(|v| InputNode::new(v.clone())).collect();
        let y = concat(&inputs, Axis(axis));
        y.forward();
        let views: Vec<_> = values.iter().map(|v| v.view()).collect();
        assert_eq!(y.value(), concatenate(Axis(axis), &views).unwrap());
    }
}

/// A tuple of different node types, including one operand twice and one whose value
/// changes between passes.
#[test]
fn concat_of_a_tuple_follows_its_operands() {
    let a = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    let x = InputNode::new(ndarray::arr2(&[[5.0]]));
    let y = concat((&a, &x, &(-a.clone()), &x), Axis(1));
    y.forward();
    assert_eq!(
        y.value(),
        ndarray::arr2(&[[1.0, 2.0, 5.0, -1.0, -2.0, 5.0]])
    );
    x.set_value(7.0);
    y.forward();
    assert_eq!(
        y.value(),
        ndarray::arr2(&[[1.0, 2.0, 7.0, -1.0, -2.0, 7.0]])
    );
}

#[test]
fn concat_gradients() {
    for (axis, shapes) in [
        (0, vec![(1, 1), (1, 1), (1, 1)]),
        (0, vec![(1, 4), (3, 4), (2, 4)]),
        (1, vec![(1, 1), (1, 2), (1, 3)]),
        (1, vec![(3, 2), (3, 1), (3, 4), (3, 2)]),
    ] {
        let params: Vec<_> = shapes
            .iter()
            .map(|&(r, c)| ParameterNode::new(random_matrix(r, c)))
            .collect();
        // Weights that differ by position, so a gradient sent to the wrong place shows.
        let y = concat(&params, Axis(axis)).tanh();
        for p in &params {
            gradcheck::assert_gradient(&y, p);
        }
    }
    // Different node types, in a tuple.
    let a = ParameterNode::new(random_matrix(3, 2));
    let b = ParameterNode::new(random_matrix(3, 3));
    let x = InputNode::new(random_matrix(3, 1));
    let y = concat((&a.tanh(), &x, &b, &a), Axis(1)).square();
    gradcheck::assert_gradient(&y, &a);
    gradcheck::assert_gradient(&y, &b);
}

/// Operands that need no gradient, or whose gradient a `detach` discards, are sent none;
/// the others get theirs.
#[test]
fn concat_sends_gradients_only_where_wanted() {
    let a = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    let b = ParameterNode::new(ndarray::arr2(&[[3.0]]));
    let x = InputNode::new(ndarray::arr2(&[[4.0, 5.0]]));
    let weights = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]));
    let y = (concat((&x, &a.detach(), &b, &a), Axis(1)) * weights).scalar_sum();
    y.forward();
    y.backward(1.0);
    assert_eq!(a.gradient(), ndarray::arr2(&[[6.0, 7.0]]));
    assert_eq!(b.gradient(), ndarray::arr2(&[[5.0]]));
    // All operands detached: the whole node discards, and the parameter sees nothing.
    let c = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    let z = (concat((&c.detach(), &c.detach()), Axis(0)).scalar_sum() + c.clone()).scalar_sum();
    z.forward();
    z.backward(1.0);
    assert_eq!(c.gradient(), ndarray::arr2(&[[1.0]]));
}

/// Every list form takes variables or references to them, in order.
#[test]
fn concat_takes_lists_of_variables_or_references() {
    let (a, b) = (
        InputNode::new(ndarray::arr2(&[[1.0]])),
        InputNode::new(ndarray::arr2(&[[2.0]])),
    );
    let owned = vec![a.clone(), b.clone(), a.clone()];
    let refs: Vec<&Variable<InputNode>> = owned.iter().collect();
    let expected = ndarray::arr2(&[[1.0, 2.0, 1.0]]);
    let mut all = [
        concat(&owned, Axis(1)),
        concat(&owned[..], Axis(1)),
        concat(&[a.clone(), b.clone(), a.clone()], Axis(1)),
        concat(&refs, Axis(1)),
        concat(&refs[..], Axis(1)),
        concat(&[&a, &b, &a], Axis(1)),
    ];
    for y in &mut all {
        y.forward();
        assert_eq!(y.value(), expected);
    }
}

/// Long chains of `stack`s build: the node keeps the drop check out of its operands'
/// types, as `Child` does (with plain `Rc`s, about 40 links overflowed it).
#[test]
fn sixty_stacks_build() {
    let x = ParameterNode::new(ndarray::arr2(&[[0.5]]));
    let h = InputNode::new(ndarray::arr2(&[[1.0]]));
    macro_rules! chain {
        ($h:ident; $($n:literal)*) => {$( let $h = { let _ = $n; $h.stack(&x, Axis(0)) }; )*};
    }
    chain!(h; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
        31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60);
    let y = h.scalar_sum();
    y.forward();
    y.backward(1.0);
    assert_eq!(y.value()[(0, 0)], 31.0);
    assert_eq!(x.gradient()[(0, 0)], 60.0);
}

/// The largest tuple builds and places each operand in order.
#[test]
fn twelve_operands_in_a_tuple() {
    let v: Vec<_> = (0..12)
        .map(|i| InputNode::new(ndarray::arr2(&[[i as f32]])))
        .collect();
    let y = concat(
        (
            &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
        ),
        Axis(0),
    );
    y.forward();
    let expected: Vec<f32> = (0..12).map(|i| i as f32).collect();
    assert_eq!(y.value().as_slice().unwrap(), &expected[..]);
}

#[test]
#[should_panic(
    expected = "shape mismatch in `concat` along Axis(1): operand 2 is 3x1 but operand 0 is 2x2 \
                (all operands: 2x2, 2x3, 3x1); concatenating columns needs equal row counts"
)]
fn concat_mismatch_names_the_operand() {
    let shapes = [(2, 2), (2, 3), (3, 1)];
    let inputs: Vec<_> = shapes
        .iter()
        .map(|&(r, c)| InputNode::new(random_matrix(r, c)))
        .collect();
    let _ = concat(&inputs, Axis(1));
}

#[test]
#[should_panic(expected = "`concat` needs at least one operand to concatenate, got none")]
fn concat_of_nothing_panics() {
    let none: Vec<Variable<InputNode>> = Vec::new();
    let _ = concat(&none, Axis(0));
}

#[test]
#[should_panic(expected = "`concat`: Axis(2) does not exist for 2-D operands (1x1, 1x1)")]
fn concat_bad_axis_panics() {
    let x = InputNode::new(random_matrix(1, 1));
    let _ = concat((&x, &x), Axis(2));
}

#[test]
fn stack_values_match_ndarray() {
    for (axis, ls, rs) in [
        (0, (1, 1), (1, 1)),
        (0, (2, 3), (4, 3)),
        (1, (1, 1), (1, 1)),
        (1, (3, 2), (3, 4)),
    ] {
        let (a, b) = (random_matrix(ls.0, ls.1), random_matrix(rs.0, rs.1));
        let y = InputNode::new(a.clone()).stack(&InputNode::new(b.clone()), Axis(axis));
        y.forward();
        let expected = concatenate(Axis(axis), &[a.view(), b.view()]).unwrap();
        assert_eq!(y.value().to_owned(), expected);
    }
}

#[test]
fn stack_gradients() {
    for (axis, ls, rs) in [
        (0, (1, 1), (1, 1)),
        (0, (1, 4), (3, 4)),
        (0, (2, 3), (4, 3)),
        (1, (1, 1), (1, 1)),
        (1, (4, 1), (4, 3)),
        (1, (3, 2), (3, 5)),
    ] {
        // Halved so that tanh stays steep enough to check (its slope at 3 is 0.01).
        let a = ParameterNode::new(random_matrix(ls.0, ls.1) * 0.5);
        let b = ParameterNode::new(random_matrix(rs.0, rs.1) * 0.5);
        let y = a.stack(&b, Axis(axis)).tanh();
        gradcheck::assert_gradient(&y, &a);
        gradcheck::assert_gradient(&y, &b);
    }
}

#[test]
fn same_operand_twice() {
    let a = ParameterNode::new(random_matrix(2, 3));
    gradcheck::assert_gradient(&a.stack(&a, Axis(0)).square(), &a);
    gradcheck::assert_gradient(&a.stack(&a.exp(), Axis(1)), &a);
}

#[test]
fn only_one_side_needs_gradient() {
    let a = ParameterNode::new(random_matrix(2, 3));
    let x = InputNode::new(random_matrix(2, 2));
    let y = x.stack(&a, Axis(1));
    y.forward();
    y.backward(1.0);
    assert_eq!(a.gradient(), ndarray::Array2::<f32>::ones((2, 3)));
}

#[test]
#[should_panic(
    expected = "shape mismatch in `stack` along Axis(0): cannot stack a 2x3 (top) on a 2x4"
)]
fn row_mismatch_panics() {
    let _ =
        InputNode::new(random_matrix(2, 3)).stack(&InputNode::new(random_matrix(2, 4)), Axis(0));
}

#[test]
#[should_panic(
    expected = "shape mismatch in `stack` along Axis(1): cannot stack a 2x3 (left) beside a 3x3"
)]
fn column_mismatch_panics() {
    let _ =
        InputNode::new(random_matrix(2, 3)).stack(&InputNode::new(random_matrix(3, 3)), Axis(1));
}

#[test]
#[should_panic(expected = "`stack`: Axis(2) does not exist")]
fn bad_axis_panics() {
    let _ =
        InputNode::new(random_matrix(2, 3)).stack(&InputNode::new(random_matrix(2, 3)), Axis(2));
}

#[test]
fn operands_without_columns_stack_side_by_side() {
    // `q` feeds both the empty stack (through a slice) and the sum: the empty branch
    // must neither panic nor keep `q` from propagating.
    let q = ParameterNode::new(ndarray::arr2(&[[1.0], [2.0]]));
    let empty = q.slice(ndarray::s![.., 0..0]);
    let y = empty.stack(&empty, Axis(1));
    assert_eq!(y.shape(), (2, 0));
    let loss = (y.vector_dot(&y) + q.clone()).scalar_sum();
    loss.forward();
    loss.backward(1.0);
    assert_eq!(q.gradient(), ndarray::arr2(&[[1.0], [1.0]]));
}
